"""Generation through the cookiecutter command, as a user runs it: what is refused, and why."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from .baking import TEMPLATE, checked_answers


def cookiecutter(output_dir: Path, *answers: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "cookiecutter", "--no-input", "-o", str(output_dir)]
    return subprocess.run(
        [*command, str(TEMPLATE), *answers], capture_output=True, text=True, check=False
    )


@pytest.mark.parametrize(
    ("answer", "message"),
    [
        ("project_slug=My Project!", "Error: project_slug 'My Project!' is not valid: use "),
        ("package_name=class", "Error: package_name 'class' is a Python keyword: use "),
        ("package_name=1st_service", "Error: package_name '1st_service' is not valid: use "),
        ("package_name=sqlalchemy", "Error: package_name 'sqlalchemy' would shadow "),
    ],
)
def test_a_bad_answer_is_refused_and_nothing_is_left(
    tmp_path: Path, answer: str, message: str
) -> None:
    result = cookiecutter(tmp_path, answer)

    assert result.returncode != 0
    assert message in result.stderr
    assert list(tmp_path.iterdir()) == []


def test_an_answer_outside_the_choices_is_refused(tmp_path: Path) -> None:
    result = cookiecutter(tmp_path, "database=mysql")

    assert result.returncode != 0
    assert "mysql provided for choice variable database, but the choices are" in result.stderr
    assert list(tmp_path.iterdir()) == []


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
