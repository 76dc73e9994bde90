{%- set is_async = cookiecutter | session_style == "async" -%}
{%- set async_ = "async " if is_async else "" -%}
{%- set aw = "await " if is_async else "" -%}
"""The command line, run as a user runs it: `{{ cookiecutter.project_slug }} seed --count N`."""

import os
import shutil
import subprocess
import sys
from collections.abc import {% if is_async %}Awaitable, {% endif %}Callable
from pathlib import Path
from typing import Any

import pytest
from database_fixtures import MakeSettings
from sqlalchemy import insert, select

from {{ cookiecutter.package_name }}.cli import main
from {{ cookiecutter.package_name }}.database import create_db_engine
from {{ cookiecutter.package_name }}.models import Item
from {{ cookiecutter.package_name }}.settings import Settings, get_settings

# The console script that installing the project made, beside this Python.
COMMAND = shutil.which({{ cookiecutter.project_slug | string_literal }}, path=Path(sys.executable).parent)
Migrate = Callable[[Any], {{ "Awaitable[None]" if is_async else "None" }}]


@pytest.fixture
{{ async_ }}def migrated(make_settings: MakeSettings, migrate: Migrate) -> Settings:
    """Settings for a new database, built by the migrations."""
    settings = {{ aw }}make_settings()
    engine = create_db_engine(settings)
    {{ aw }}migrate(engine)
    {{ aw }}engine.dispose()
    return settings


{{ async_ }}def migrated_with_one_item(settings: Settings) -> None:
    engine = create_db_engine(settings)
    {{ async_ }}with engine.begin() as connection:
        {{ aw }}connection.execute(insert(Item), {"title": "There before"{{ ', "owner": "alice"' if cookiecutter.auth == "oidc" }}})
    {{ aw }}engine.dispose()


def seed(settings: Settings, *arguments: str) -> subprocess.CompletedProcess[str]:
    assert COMMAND, "the project is not installed: run `uv sync`"
    environment = os.environ | {"DATABASE_URL": settings.database_url}
    command = [COMMAND, "seed", *arguments{{ ', "--owner", "alice"' if cookiecutter.auth == "oidc" }}]
    return subprocess.run(command, env=environment, capture_output=True, text=True, timeout=120)


{{ async_ }}def titles(settings: Settings) -> list[str]:
    engine = create_db_engine(settings)
    {{ async_ }}with engine.connect() as connection:
        titles = list({{ aw }}connection.scalars(select(Item.title).order_by(Item.id)))
    {{ aw }}engine.dispose()
    return titles


{{ async_ }}def test_seed_creates_the_items_in_transactions_of_a_batch_each(migrated: Settings) -> None:
    {{ aw }}migrated_with_one_item(migrated)

    seeded = seed(migrated, "--count", "25", "--batch", "10")

    assert seeded.returncode == 0, seeded.stderr
    assert seeded.stdout.startswith("Created 25 items in ")
    assert seeded.stdout.endswith(", in 3 transactions\n")
    created = [f"Demo item {n}" for n in range(1, 26)]
    assert {{ aw }}titles(migrated) == ["There before", *created]  # added to what was there


{{ async_ }}def test_seed_on_a_database_not_yet_migrated_says_so_and_writes_nothing(
    make_settings: MakeSettings,
) -> None:
    seeded = seed({{ aw }}make_settings(), "--count", "10")

    assert seeded.returncode == 1
    assert "error: " in seeded.stderr
    assert seeded.stdout == "Created 0 of 10 items; the batch that failed was rolled back.\n"


@pytest.mark.parametrize(
    ("arguments", "refusal"),
    [
        (["--count", "0"], "argument --count: 0 is not a positive number"),
        (["--count", "many"], "argument --count: 'many' is not a whole number"),
        (["--count", ",,7"], "argument --count: ',,7' is not a whole number"),
        (["--count", "9", "--batch", "100_001"], "argument --batch: 100,001 is more than 100,000"),
    ],
)
def test_seed_refuses_what_is_not_a_number_it_can_use(
    capsys: pytest.CaptureFixture[str], arguments: list[str], refusal: str
) -> None:
    with pytest.raises(SystemExit) as exit_status:
        main(["seed", *arguments])  # refused before it touches a database

    assert exit_status.value.code == 2
    assert refusal in capsys.readouterr().err


def test_seed_says_what_is_wrong_with_the_settings(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DATABASE_URL", "mysql://nowhere/items")
    get_settings.cache_clear()
    try:
        status = main(["seed", "--count", "1"{{ ', "--owner", "alice"' if cookiecutter.auth == "oidc" }}])
    finally:
        get_settings.cache_clear()

    assert status == 1
    assert capsys.readouterr().err.startswith("error: 1 validation error for Settings")
