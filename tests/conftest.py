"""Fixtures that render the template once per variant per test session, and install it.

`project` is parametrized over every answer of the `database` prompt. All tests of one variant
run on one xdist worker (`xdist_group`), so each variant is rendered and installed once, and
the variants are tested in parallel.
"""

from __future__ import annotations

import json
import time
from typing import Any

import pytest

from .baking import DATABASES, Project, bake


def variant_params() -> list[Any]:
    return [
        pytest.param(database, id=f"database:{database}", marks=pytest.mark.xdist_group(database))
        for database in DATABASES
    ]


@pytest.fixture(scope="session", params=variant_params())
def project(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Project:
    """A rendered project of one variant, installed as its README says."""
    answers = {"database": request.param}
    started = time.perf_counter()
    path = bake(tmp_path_factory.mktemp(request.param), **answers)
    project = Project(path, answers, {"render": time.perf_counter() - started})
    project.run(project.readme_command("install"), timing="install")
    return project


def pytest_terminal_summary(terminalreporter: Any) -> None:
    timings: dict[str, dict[str, float]] = {}
    for report in terminalreporter.stats.get("passed", []) + terminalreporter.stats.get(
        "failed", []
    ):
        for name, value in getattr(report, "user_properties", []):
            if name == "timings":
                for variant, steps in json.loads(value).items():
                    timings.setdefault(variant, {}).update(steps)
    if timings:
        terminalreporter.section("time per variant (seconds)")
        for variant, steps in sorted(timings.items()):
            line = ", ".join(f"{step} {seconds:.1f}" for step, seconds in steps.items())
            terminalreporter.write_line(f"database:{variant}: {line}")
