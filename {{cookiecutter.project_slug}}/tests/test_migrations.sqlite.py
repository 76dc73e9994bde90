"""The migrations build exactly the schema the models describe, and can be undone."""

from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic import command
from alembic.config import Config
from sqlalchemy import create_engine, inspect

from {{ cookiecutter.package_name }}.settings import get_settings


@pytest.fixture
def database_url(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A fresh database file, named by DATABASE_URL as the `alembic` command would see it."""
    url = f"sqlite:///{tmp_path / 'migrations.db'}"
    monkeypatch.setenv("DATABASE_URL", url)
    get_settings.cache_clear()
    yield url
    get_settings.cache_clear()


def tables(url: str) -> set[str]:
    engine = create_engine(url)
    try:
        return set(inspect(engine).get_table_names())
    finally:
        engine.dispose()


def test_upgrade_check_downgrade_upgrade(database_url: str, alembic_config: Config) -> None:
    config = alembic_config

    command.upgrade(config, "head")
    assert tables(database_url) == {"alembic_version", "items"}
    command.check(config)  # raises if the models and the migrations disagree

    command.downgrade(config, "base")
    assert tables(database_url) == {"alembic_version"}

    command.upgrade(config, "head")
    command.check(config)
