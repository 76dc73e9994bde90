"""OpenID Connect, as docs/auth.md tells a user to try it: the provider the project's tests run,
started by its one command, a token fetched from it as curl would, and the project served as its
README says, pointed at the provider."""

from __future__ import annotations

import json
import re
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.error import HTTPError
from urllib.parse import urlencode
from urllib.request import Request, urlopen

import pytest

from .baking import Project, environment
from .test_variants import migrated_database

pytestmark = pytest.mark.slow
PRINTED = re.compile(r"^OIDC_ISSUER=(\S+) OIDC_AUDIENCE=(\S+)$", re.MULTILINE)


@contextmanager
def provider(project: Project, log: Path) -> Iterator[dict[str, str]]:
    """`uv run python tests/issuer.py --port N` in the project, as docs/auth.md says; the
    settings it prints, once it answers."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    command = ["uv", "run", "python", "tests/issuer.py", "--port", str(port)]
    assert f"$ {' '.join(command[:4])} &" in (project.path / "docs" / "auth.md").read_text()
    with log.open("w") as output:
        issuer = subprocess.Popen(
            command, cwd=project.path, env=environment(), stdout=output, stderr=output
        )
        try:
            deadline = time.monotonic() + 30
            printed = PRINTED.search(log.read_text())
            while not printed:
                assert issuer.poll() is None, log.read_text()
                assert time.monotonic() < deadline, log.read_text()
                time.sleep(0.1)
                printed = PRINTED.search(log.read_text())
            yield {"OIDC_ISSUER": printed[1], "OIDC_AUDIENCE": printed[2]}
        finally:
            issuer.terminate()
            issuer.wait(timeout=10)


def token(issuer: str, scope: str) -> str:
    """`curl -s -d subject=alice -d 'scope=...' <issuer>/token`, and its access_token."""
    form = urlencode({"subject": "alice", "scope": scope}).encode()
    with urlopen(Request(f"{issuer}/token", data=form), timeout=10) as response:
        access_token: str = json.load(response)["access_token"]
    return access_token


def call(base: str, method: str, path: str, token: str | None) -> tuple[int, dict[str, str]]:
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    body = json.dumps({"title": "Tea"}).encode() if method == "POST" else None
    try:
        with urlopen(Request(f"{base}{path}", body, headers, method=method), timeout=10) as answer:
            return answer.status, dict(answer.headers)
    except HTTPError as error:
        return error.code, dict(error.headers)


def test_served_against_the_tests_provider_the_api_takes_its_tokens_only(
    oidc_project: Project, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    project = oidc_project
    env = migrated_database(project, tmp_path, request)
    with provider(project, tmp_path / "issuer.log") as settings:
        issuer = settings["OIDC_ISSUER"]
        with project.serving(env | settings, tmp_path / "server.log") as base:
            writer, reader = token(issuer, "items:read items:write"), token(issuer, "items:read")
            answers = {
                "created": call(base, "POST", "/items", writer),
                "listed": call(base, "GET", "/items", reader),
                "refused a write": call(base, "POST", "/items", reader),
                "without a token": call(base, "GET", "/items", None),
                "with a forged token": call(base, "GET", "/items", writer[:-4] + "AAAA"),
                "health": call(base, "GET", "/health/ready", None),
            }

    statuses = {what: status for what, (status, _) in answers.items()}
    assert statuses == {
        "created": 201,
        "listed": 200,
        "refused a write": 403,
        "without a token": 401,
        "with a forged token": 401,
        "health": 200,
    }
    assert answers["without a token"][1]["www-authenticate"] == "Bearer"
    assert 'error="insufficient_scope"' in answers["refused a write"][1]["www-authenticate"]
    assert 'error="invalid_token"' in answers["with a forged token"][1]["www-authenticate"]


def test_served_without_a_provider_it_will_not_start_and_says_why(
    oidc_project: Project, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    env = migrated_database(oidc_project, tmp_path, request)
    log = tmp_path / "server.log"

    with pytest.raises(AssertionError, match="the server stopped"), oidc_project.serving(env, log):
        pass

    assert "OIDC_ISSUER and OIDC_AUDIENCE must be set" in log.read_text()
