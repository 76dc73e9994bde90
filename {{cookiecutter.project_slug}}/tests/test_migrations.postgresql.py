"""The migrations build exactly the schema the models describe, and can be undone."""

from collections.abc import AsyncIterator, Awaitable, Callable

import pytest
from alembic import command
from alembic.config import Config
from sqlalchemy import inspect
from sqlalchemy.ext.asyncio import create_async_engine

from {{ cookiecutter.package_name }}.settings import Settings, get_settings


@pytest.fixture
async def database_url(
    make_database: Callable[[], Awaitable[Settings]], monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[str]:
    """A fresh database, named by DATABASE_URL as the `alembic` command would see it."""
    url = (await make_database()).database_url
    monkeypatch.setenv("DATABASE_URL", url)
    get_settings.cache_clear()
    yield url
    get_settings.cache_clear()


async def tables(url: str) -> set[str]:
    engine = create_async_engine(url)
    async with engine.connect() as connection:
        names = await connection.run_sync(lambda sync: inspect(sync).get_table_names())
    await engine.dispose()
    return set(names)


async def test_upgrade_check_downgrade_upgrade(database_url: str, alembic_config: Config) -> None:
    # Called from inside the test's running event loop, as an application's start-up would.
    config = alembic_config

    command.upgrade(config, "head")
    assert await tables(database_url) == {"alembic_version", "items"}
    command.check(config)  # raises if the models and the migrations disagree

    command.downgrade(config, "base")
    assert await tables(database_url) == {"alembic_version"}

    command.upgrade(config, "head")
    command.check(config)
