"""Fixtures: databases built by the migrations, and the application on them.

`app` and `client` serve each test in a transaction that is rolled back at its end: the
requests run in savepoints inside it, on one connection, so the application commits as usual
and the test still leaves nothing behind.
"""

from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from alembic import command
from alembic.config import Config
from fastapi import FastAPI
from httpx2 import ASGITransport, AsyncClient
from sqlalchemy import Connection, event
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, async_sessionmaker
from sqlalchemy.orm import Session, SessionTransaction

from {{ cookiecutter.package_name }}.database import Database, create_db_engine
from {{ cookiecutter.package_name }}.main import create_app
from {{ cookiecutter.package_name }}.settings import Settings

pytest_plugins = ["database_fixtures"]

Migrate = Callable[[AsyncEngine], Awaitable[None]]


@pytest.fixture(scope="session")
def alembic_config() -> Config:
    """The project's Alembic configuration, read from pyproject.toml as `alembic` reads it."""
    return Config(toml_file=Path(__file__).parents[1] / "pyproject.toml")


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


@pytest.fixture(scope="session")
def read_only_session_class(read_only_statements: tuple[str, str]) -> type[Session]:
    """Sessions that keep the connection read-only while they are open, as production's read
    sessions are: a route that writes through one fails in the tests too."""
    read_only, read_write = read_only_statements

    class ReadOnlySession(Session):
        pass

    @event.listens_for(ReadOnlySession, "after_begin")
    def _begin(session: Session, _transaction: SessionTransaction, connection: Any) -> None:
        connection.exec_driver_sql(read_only)
        session.info["read_only"] = connection

    @event.listens_for(ReadOnlySession, "after_transaction_end")
    def _end(session: Session, _transaction: SessionTransaction) -> None:
        if connection := session.info.pop("read_only", None):
            connection.exec_driver_sql(read_write)

    return ReadOnlySession


@pytest.fixture
def app(
    settings: Settings, connection: AsyncConnection, read_only_session_class: type[Session]
) -> FastAPI:
    options: dict[str, Any] = {"expire_on_commit": False}
    options["join_transaction_mode"] = "create_savepoint"
    read_options = options | {"sync_session_class": read_only_session_class}
    database = Database(
        session_factory=async_sessionmaker(connection, **options),
        read_session_factory=async_sessionmaker(connection, **read_options),
    )
    return create_app(settings, database=database)


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[AsyncClient]:
    async with AsyncClient(transport=ASGITransport(app=app), base_url="http://test") as client:
        yield client
