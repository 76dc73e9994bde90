"""The migrations build exactly the schema the models describe, and can be undone."""

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from alembic import command
from alembic.config import Config
from database_fixtures import MakeSettings
from sqlalchemy import create_engine, inspect

from {{ cookiecutter.package_name }}.models import Base
from {{ cookiecutter.package_name }}.settings import get_settings


@pytest.fixture
def database_url(make_settings: MakeSettings, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A new database, named by DATABASE_URL as the `alembic` command would see it."""
    url = make_settings().database_url
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


def test_the_migrations_build_the_schema_the_models_describe(
    database_url: str,
    alembic_config: Config,
    make_settings: MakeSettings,
    schema: Callable[[Any], dict[str, Any]],
) -> None:
    command.upgrade(alembic_config, "head")
    from_models = create_engine(make_settings().url)
    Base.metadata.create_all(from_models)
    from_migrations = create_engine(database_url)

    assert schema(from_migrations) == schema(from_models)
    from_models.dispose()
    from_migrations.dispose()
