"""Generation through the cookiecutter command, as a user runs it: what is refused, and why."""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from .baking import (
    COMBINATIONS,
    OTHER_ANSWERS,
    TEMPLATE,
    VARIANTS,
    bake,
    checked_answers,
    combination_id,
)


def cookiecutter(
    output_dir: Path, *answers: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "cookiecutter", "--no-input", "-o", str(output_dir)]
    return subprocess.run(
        [*command, str(TEMPLATE), *answers], capture_output=True, text=True, check=False, env=env
    )


SLUG_RULE = "use lowercase letters, digits and single hyphens, start with a letter, at most 64"
PACKAGE_RULE = "use lowercase letters, digits and underscores, start with a letter, at most 64"


@pytest.mark.slow
@pytest.mark.parametrize(
    ("answer", "message"),
    [
        ("project_slug=My Project!", f"project_slug 'My Project!' is not valid: {SLUG_RULE}"),
        ("project_slug=1st-service", f"project_slug '1st-service' is not valid: {SLUG_RULE}"),
        ("project_slug=my service", f"project_slug 'my service' is not valid: {SLUG_RULE}"),
        ("project_slug=my--service", f"project_slug 'my--service' is not valid: {SLUG_RULE}"),
        (f"project_slug={'s' * 65}", f"project_slug '{'s' * 65}' is not valid: {SLUG_RULE}"),
        ("package_name=", f"package_name '' is not valid: {PACKAGE_RULE}"),
        ("package_name=1st_service", f"package_name '1st_service' is not valid: {PACKAGE_RULE}"),
        ("package_name=my service", f"package_name 'my service' is not valid: {PACKAGE_RULE}"),
        ("package_name=my.service", f"package_name 'my.service' is not valid: {PACKAGE_RULE}"),
        (f"package_name={'p' * 65}", f"package_name '{'p' * 65}' is not valid: {PACKAGE_RULE}"),
        ("package_name=class", f"package_name 'class' is a Python keyword: {PACKAGE_RULE}"),
        ("package_name=test", "package_name 'test' would shadow the module of that name"),
        ("package_name=typing", "package_name 'typing' would shadow the module of that name"),
        ("package_name=fastapi", "package_name 'fastapi' would shadow the module of that name"),
        ("package_name=sqlalchemy", "package_name 'sqlalchemy' would shadow the module of that"),
        ("package_name=alembic", "package_name 'alembic' would shadow the module of that name"),
        ("project_name=", "project_name is empty: give it some text"),
        ("author_email=nobody", "author_email 'nobody' is not valid: use an address like"),
    ],
)
def test_a_bad_answer_is_refused_and_nothing_is_left(
    tmp_path: Path, answer: str, message: str
) -> None:
    result = cookiecutter(tmp_path, answer)

    assert result.returncode != 0
    assert f"Error: {message}" in result.stderr
    assert list(tmp_path.iterdir()) == []


def test_making_a_project_leaves_nothing_in_the_temporary_directory(tmp_path: Path) -> None:
    temporary = tmp_path / "tmp"
    temporary.mkdir()
    env = os.environ | {"TMPDIR": str(temporary)}

    made = cookiecutter(tmp_path / "made", env=env)
    refused = cookiecutter(tmp_path / "refused", "project_slug=1st-service", env=env)

    assert made.returncode == 0, made.stderr
    assert refused.returncode != 0
    assert list(temporary.iterdir()) == []


def test_an_empty_slug_is_refused_by_cookiecutter_and_nothing_is_written(tmp_path: Path) -> None:
    # The project directory would be the output directory itself: cookiecutter refuses that
    # before the hooks run, with its own message.
    result = cookiecutter(tmp_path, "project_slug=")

    assert result.returncode != 0
    assert "directory already exists" in result.stdout + result.stderr
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("question", "answer"), [("database", "mysql"), ("tracing", "jaeger"), ("auth", "basic")]
)
def test_an_answer_outside_the_choices_is_refused(
    tmp_path: Path, question: str, answer: str
) -> None:
    result = cookiecutter(tmp_path, f"{question}={answer}")

    assert result.returncode != 0
    assert f"{answer} provided for choice variable {question}, but the choices are" in (
        result.stderr
    )
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    "combination",
    [c | a for a in OTHER_ANSWERS for c in COMBINATIONS if c | a not in VARIANTS],
    ids=combination_id,
)
def test_other_answers_are_lint_clean_where_they_are_not_installed_and_tested(
    tmp_path: Path, combination: dict[str, str]
) -> None:
    """The tests install tracing and OpenID Connect in each database's usual session style
    (VARIANTS); in the others, their code is rendered and checked by ruff with the project's
    own rules, which find a name that is not there or an import out of place."""
    project = bake(tmp_path, **combination)
    ruff = Path(sys.executable).with_name("ruff")

    for check in (["check"], ["format", "--check"]):
        result = subprocess.run(
            [ruff, *check, "--no-cache", "."], cwd=project, capture_output=True, text=True
        )
        assert result.returncode == 0, result.stdout + result.stderr


def test_the_session_style_follows_the_database_by_default(tmp_path: Path) -> None:
    project = bake(tmp_path, database="postgresql")

    answers = json.loads((project / ".cruft.json").read_text())["context"]["cookiecutter"]
    assert (answers["database"], answers["session"]) == ("postgresql", "async")


def test_the_api_tests_are_one_file_the_same_in_every_project(tmp_path: Path) -> None:
    rendered = {
        combination_id(combination): (
            bake(tmp_path / combination_id(combination), **combination) / "tests" / "test_items.py"
        ).read_bytes()
        for combination in COMBINATIONS
    }

    assert len(set(rendered.values())) == 1, sorted(rendered)


def test_an_existing_directory_is_refused_and_left_untouched(tmp_path: Path) -> None:
    existing = tmp_path / "my-items-service"
    existing.mkdir()
    (existing / "notes.txt").write_text("mine")

    result = cookiecutter(tmp_path)

    assert result.returncode != 0
    assert f'"{existing}" directory already exists' in result.stdout + result.stderr
    assert [path.name for path in existing.iterdir()] == ["notes.txt"]
    assert (existing / "notes.txt").read_text() == "mine"


def test_the_tests_own_answers_are_checked_against_cookiecutter_json() -> None:
    with pytest.raises(KeyError, match="'databse' is not a question"):
        checked_answers({"databse": "postgresql"})
    with pytest.raises(ValueError, match="'mysql' is not one of the choices for 'database'"):
        checked_answers({"database": "mysql"})


def literal_arguments(module: Path, function: str) -> dict[str, object]:
    """The keyword arguments given as literals in the first call to `function` in a module."""
    for node in ast.walk(ast.parse(module.read_text())):
        if isinstance(node, ast.Call) and getattr(node.func, "id", None) == function:
            return {
                keyword.arg: ast.literal_eval(keyword.value)
                for keyword in node.keywords
                if keyword.arg and isinstance(keyword.value, ast.Constant)
            }
    raise AssertionError(f"{module} does not call {function}")


@pytest.mark.slow
@pytest.mark.parametrize(
    "text",
    [
        pytest.param('The "Best" Items', id="double quotes"),
        pytest.param("Bob's items", id="apostrophe"),
        pytest.param("C:\\items\\new \\n", id="backslashes"),
        pytest.param("ends with a backslash \\", id="trailing backslash"),
        pytest.param('ends with a quote "', id="trailing quote"),
        pytest.param("Café Ünïcödé Ørder, 東京", id="non-ASCII"),
        pytest.param("Items 🚀✨", id="emoji"),
        pytest.param("{curly} 100% off, #1 [brackets]", id="braces percent hash"),
        pytest.param('"""; import os; os.system("echo injected") #', id="python injection"),
        pytest.param('x" }, { name = "injected', id="toml injection"),
        pytest.param("</script><script>alert(1)</script>", id="html"),
    ],
)
def test_free_text_answers_come_out_intact(tmp_path: Path, text: str) -> None:
    project = bake(
        tmp_path, project_name=text, project_slug="weird", description=text, author_name=text
    )

    pyproject = tomllib.loads((project / "pyproject.toml").read_text())
    assert pyproject["project"]["description"] == text
    assert pyproject["project"]["authors"] == [{"name": text, "email": "you@example.com"}]
    tools = {"uv", "fastapi", "alembic", "pytest", "coverage", "ruff", "mypy", "cruft"}
    assert set(pyproject["tool"]) == tools
    recorded = json.loads((project / ".cruft.json").read_text())["context"]["cookiecutter"]
    assert (recorded["project_name"], recorded["description"]) == (text, text)
    for module in project.rglob("*.py"):
        compile(module.read_text(), str(module), "exec")
    main = project / "src" / "weird" / "main.py"
    assert (
        literal_arguments(main, "FastAPI").items() >= {"title": text, "description": text}.items()
    )
    readme = (project / "README.md").read_text()
    assert readme.startswith(f"# {text}\n\n{text}\n")


def test_typed_answers_are_taken_as_text_not_as_template(tmp_path: Path) -> None:
    # At the prompts, an answer is text: cookiecutter renders only the defaults it derives.
    typed = 'A {{ 7 * 7 }} {% if x %} {# note #} "name"'
    answers = f"{typed}\n\n\n{typed}\n\n\n\n\n\n\n"
    command = [sys.executable, "-m", "cookiecutter", "-o", str(tmp_path), str(TEMPLATE)]
    result = subprocess.run(command, input=answers, capture_output=True, text=True, check=False)

    assert result.returncode == 0, result.stderr
    (project,) = tmp_path.iterdir()
    assert project.name == "a-7-7-if-x-note-name"
    pyproject = tomllib.loads((project / "pyproject.toml").read_text())
    assert pyproject["project"]["description"] == typed
    main = project / "src" / "a_7_7_if_x_note_name" / "main.py"
    assert (
        literal_arguments(main, "FastAPI").items() >= {"title": typed, "description": typed}.items()
    )
