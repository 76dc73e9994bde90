"""The hooks, imported as the plain Python they are before rendering, and tested as functions."""

from __future__ import annotations

import importlib.util
import tomllib
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from .baking import DATABASES, PROJECT_TEMPLATE, TEMPLATE, full_context


def load_hook(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, TEMPLATE / "hooks" / f"{name}.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


pre_gen = load_hook("pre_gen_project")
post_gen = load_hook("post_gen_project")


def answers(**changes: str) -> dict[str, Any]:
    return full_context({}) | changes


def test_the_default_answers_are_accepted() -> None:
    assert pre_gen.check_answers(answers()) == []


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"project_slug": "My Project!"}, "project_slug 'My Project!' is not valid"),
        ({"project_slug": "1st-service"}, "project_slug '1st-service' is not valid"),
        ({"project_slug": "trailing-"}, "project_slug 'trailing-' is not valid"),
        ({"package_name": "class"}, "package_name 'class' is a Python keyword"),
        ({"package_name": "1abc"}, "package_name '1abc' is not valid"),
        ({"package_name": "my-service"}, "package_name 'my-service' is not valid"),
        ({"package_name": "typing"}, "package_name 'typing' would shadow"),
        ({"package_name": "fastapi"}, "package_name 'fastapi' would shadow"),
        ({"project_name": "  "}, "project_name is empty"),
        ({"description": "two\nlines"}, "description 'two\\nlines' has a line break"),
        ({"author_email": "nobody"}, "author_email 'nobody' is not valid"),
    ],
)
def test_a_bad_answer_is_named_with_what_would_be_accepted(
    changes: dict[str, str], message: str
) -> None:
    problems = pre_gen.check_answers(answers(**changes))

    assert len(problems) == 1
    assert problems[0].startswith(message)
    assert ":" in problems[0]


MANIFEST = """
[database.sqlite]
"db.py" = "db.sqlite.py"
"tests/test_db.py" = "tests/test_db.sqlite.py"

[database.postgresql]
"db.py" = "db.postgresql.py"
"pg_only.py" = "pg_only.py"
"""


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "tests").mkdir()
    for name in ["db.sqlite.py", "db.postgresql.py", "pg_only.py", "tests/test_db.sqlite.py"]:
        (tmp_path / name).write_text(name)
    (tmp_path / post_gen.MANIFEST).write_text(MANIFEST)
    return tmp_path


def files(root: Path) -> dict[str, str]:
    return {
        path.relative_to(root).as_posix(): path.read_text()
        for path in root.rglob("*")
        if path.is_file()
    }


def test_post_gen_keeps_the_chosen_answer_and_deletes_the_rest(project: Path) -> None:
    assert post_gen.main(project, {"database": "sqlite"}) == 0

    assert files(project) == {
        "db.py": "db.sqlite.py",
        "tests/test_db.py": "tests/test_db.sqlite.py",
    }


def test_post_gen_keeps_files_whose_name_does_not_change(project: Path) -> None:
    assert post_gen.main(project, {"database": "postgresql"}) == 0

    assert files(project) == {"db.py": "db.postgresql.py", "pg_only.py": "pg_only.py"}


def test_post_gen_fails_loudly_on_a_listed_file_that_does_not_exist(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (project / "pg_only.py").unlink()
    before = files(project)

    assert post_gen.main(project, {"database": "sqlite"}) == 1

    assert "lists files that the template lacks: ['pg_only.py']" in capsys.readouterr().err
    assert files(project) == before


def test_post_gen_fails_loudly_on_an_answer_the_manifest_does_not_know(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert post_gen.main(project, {"database": "mysql"}) == 1

    assert "has no [database.mysql] table" in capsys.readouterr().err


def test_the_template_manifest_has_a_table_for_every_choice() -> None:
    raw = (PROJECT_TEMPLATE / post_gen.MANIFEST).read_text()

    assert sorted(tomllib.loads(raw)["database"]) == sorted(DATABASES)
