"""Fixtures of the session style: the engine, the test's transaction, and the app on it."""

from collections.abc import AsyncIterator, Awaitable, Callable

import pytest
from alembic import command
from alembic.config import Config
from fastapi import FastAPI
from sqlalchemy import Connection
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, async_sessionmaker
from sqlalchemy.orm import Session

from {{ cookiecutter.package_name }}.database import SESSION_OPTIONS, Database, create_db_engine
from {{ cookiecutter.package_name }}.main import create_app
from {{ cookiecutter.package_name }}.settings import Settings

Migrate = Callable[[AsyncEngine], Awaitable[None]]


@pytest.fixture(scope="session")
def migrate(alembic_config: Config) -> Migrate:
    """Build the schema of the database behind an engine with the project's migrations."""

    def upgrade(connection: Connection) -> None:
        alembic_config.attributes["connection"] = connection
        command.upgrade(alembic_config, "head")
        del alembic_config.attributes["connection"]

    async def migrate(engine: AsyncEngine) -> None:
        async with engine.begin() as connection:
            await connection.run_sync(upgrade)

    return migrate


@pytest.fixture(scope="session")
async def settings(make_settings: Callable[[], Awaitable[Settings]]) -> Settings:
    return await make_settings()


@pytest.fixture(scope="session")
async def engine(settings: Settings, migrate: Migrate) -> AsyncIterator[AsyncEngine]:
    engine = create_db_engine(settings)
    await migrate(engine)
    yield engine
    await engine.dispose()


@pytest.fixture
async def connection(engine: AsyncEngine) -> AsyncIterator[AsyncConnection]:
    async with engine.connect() as connection:
        transaction = await connection.begin()
        yield connection
        await transaction.rollback()


@pytest.fixture
def app(
    settings: Settings, connection: AsyncConnection, read_only_session_class: type[Session]
) -> FastAPI:
    # Each request's commit releases a savepoint; the test's transaction is rolled back.
    options = SESSION_OPTIONS | {"join_transaction_mode": "create_savepoint"}
    read_options = options | {"sync_session_class": read_only_session_class}
    database = Database(
        session_factory=async_sessionmaker(connection, **options),
        read_session_factory=async_sessionmaker(connection, **read_options),
    )
    return create_app(settings, database=database)
