{%- set OWNER = ', owner="alice"' if cookiecutter.auth == "oidc" else "" -%}
{%- set OWNER_COLUMN = ", owner" if cookiecutter.auth == "oidc" else "" -%}
{%- set OWNER_VALUE = ", 'alice'" if cookiecutter.auth == "oidc" else "" -%}
{%- set is_async = cookiecutter | session_style == "async" -%}
{%- set aw = "await " if is_async else "" -%}
"""What is particular to SQLite: the URLs the settings accept, and how connections are set up."""

import sqlite3
import time
from collections.abc import {{ "AsyncIterator, Callable" if is_async else "Callable, Iterator" }}
from datetime import UTC
from typing import Any

import anyio
import pytest
from clients import client_for
from database_fixtures import MakeSettings
{%- if is_async %}
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession
{%- else %}
from sqlalchemy import Engine, text
from sqlalchemy.orm import Session
{%- endif %}

from {{ cookiecutter.package_name }}.database import create_db_engine, database_for
from {{ cookiecutter.package_name }}.main import create_app
from {{ cookiecutter.package_name }}.models import Item
from {{ cookiecutter.package_name }}.settings import DRIVER, Settings


@pytest.fixture
{{ "async " if is_async }}def writer(make_settings: MakeSettings) -> {{ "AsyncIterator[AsyncEngine]" if is_async else "Iterator[Engine]" }}:
    """An engine of the kind requests that write use, on a database of the test's own."""
    engine = create_db_engine({{ aw }}make_settings())
    yield engine
    {{ aw }}engine.dispose()


{{ "async " if is_async }}def test_each_connection_enforces_foreign_keys_and_uses_wal(writer: {{ "AsyncEngine" if is_async else "Engine" }}) -> None:
    {{ "async " if is_async }}with writer.connect() as connection:
        assert ({{ aw }}connection.exec_driver_sql("PRAGMA foreign_keys")).scalar() == 1
        assert ({{ aw }}connection.exec_driver_sql("PRAGMA journal_mode")).scalar() == "wal"
        assert ({{ aw }}connection.exec_driver_sql("PRAGMA query_only")).scalar() == 0


{{ "async " if is_async }}def test_times_are_read_back_aware_in_utc(engine: {{ "AsyncEngine" if is_async else "Engine" }}) -> None:
    {{ "async " if is_async }}with {{ "AsyncSession" if is_async else "Session" }}(engine) as session:
        item = Item(title="Timed"{{ OWNER }})
        session.add(item)
        {{ aw }}session.flush()  # the database's clock sets created_at

        assert item.created_at.tzinfo is UTC
        {{ aw }}session.rollback()


{{ "async " if is_async }}def test_connections_go_back_to_the_pool_with_no_transaction_open(
    make_settings: MakeSettings, migrate: Callable[[Any], Any]
) -> None:
    """Rollbacks are skipped where no transaction is open, and only there (dialect.prepare): a
    write that failed, or a SAVEPOINT in a read session, leaves nothing open on its connection."""
    own = {{ aw }}make_settings()
    # One connection each, so that every step below gets the connection the one before used.
    writer = create_db_engine(own, pool_size=1, max_overflow=0)
    reader = create_db_engine(own, read_only=True, pool_size=1, max_overflow=0)
    {{ aw }}migrate(writer)
    count = "SELECT count(*) FROM items"
    insert = "INSERT INTO items (title{{ OWNER_COLUMN }}) VALUES ('Kept'{{ OWNER_VALUE }})"
    lost = "INSERT INTO items (title{{ OWNER_COLUMN }}) VALUES ('Rolled back'{{ OWNER_VALUE }})"

    {{ "async " if is_async }}def fail_a_write() -> None:
        {{ "async " if is_async }}with writer.begin() as connection:
            {{ aw }}connection.exec_driver_sql(lost)
            raise RuntimeError("the request failed")

    with pytest.raises(RuntimeError):
        {{ aw }}fail_a_write()
    {{ "async " if is_async }}with {{ "AsyncSession" if is_async else "Session" }}(reader) as session:
        {{ aw }}session.begin_nested()
        {{ aw }}session.execute(text(count))
    {{ "async " if is_async }}with writer.begin() as connection:  # BEGIN would fail inside an open one
        {{ aw }}connection.exec_driver_sql(insert)
    {{ "async " if is_async }}with reader.connect() as connection:  # a stale snapshot would miss it
        seen = ({{ aw }}connection.exec_driver_sql(count)).scalar()
    {{ aw }}writer.dispose()
    {{ aw }}reader.dispose()

    assert seen == 1


{%- if is_async %}


async def test_a_connection_closed_in_the_middle_of_a_statement_gives_up_the_write_lock(
    writer: AsyncEngine,
) -> None:
    async with writer.begin() as connection:
        await connection.exec_driver_sql("CREATE TABLE numbers (n INTEGER)")
    # As when a request is cancelled between two steps of an INSERT ... RETURNING: the
    # statement is still open, and still referenced, when its connection is closed.
    async with writer.connect() as connection:
        _open = await connection.stream(text("INSERT INTO numbers VALUES (1), (2) RETURNING n"))
        await connection.invalidate()
    async with writer.begin() as connection:  # "database is locked" if the lock were still held
        await connection.exec_driver_sql("INSERT INTO numbers VALUES (3)")
{%- endif %}


async def test_a_read_that_waits_for_a_lock_never_stalls_the_other_requests(
    make_settings: MakeSettings, migrate: Callable[[Any], Any]
) -> None:
    settings = ({{ aw }}make_settings()).model_copy(update={"busy_timeout": 1.0})
    writer, reader = create_db_engine(settings), create_db_engine(settings, read_only=True)
    {{ aw }}migrate(writer)
    {{ aw }}writer.dispose()  # the lock below can be had only while no connection is open
    app = create_app(settings, database=database_for(writer, reader))
    # As another process that holds the database exclusively (one restoring a backup, say).
    holder = sqlite3.connect(str(settings.url.database), isolation_level=None)
    holder.execute("PRAGMA locking_mode = EXCLUSIVE")
    holder.execute("BEGIN EXCLUSIVE")
    reads = []
    try:
        async with (
            client_for(app) as client,
            anyio.create_task_group() as requests,
        ):

            async def read() -> None:
                reads.append(await client.get("/items/1"))

            started = time.perf_counter()
            requests.start_soon(read)
            await anyio.sleep(0.05)  # the read is waiting for the lock now
            live = await client.get("/health/live")
            answered_in = time.perf_counter() - started
    finally:
        holder.close()
    {{ aw }}reader.dispose()
    {{ aw }}writer.dispose()

    assert live.status_code == 200
    assert answered_in < 0.5, answered_in  # not held up by the read's BUSY_TIMEOUT (1 s)
    assert [(read.status_code, read.headers["retry-after"]) for read in reads] == [(503, "5")]
    # The database answered: it is locked, not unavailable.
    assert reads[0].json()["detail"] == "The database is locked by another write; try again shortly"


async def test_no_write_waits_longer_than_busy_timeout_in_all(
    make_settings: MakeSettings, migrate: Callable[[Any], Any]
) -> None:
    """Eight writes arrive while another process holds the write lock: each gets its 503 within
    BUSY_TIMEOUT of its arrival, its wait for its turn among this process's writers and its wait
    for SQLite's lock counted together, not a BUSY_TIMEOUT after the write before it."""
    settings = ({{ aw }}make_settings()).model_copy(update={"busy_timeout": 1.0})
    writer, reader = create_db_engine(settings), create_db_engine(settings, read_only=True)
    {{ aw }}migrate(writer)
    app = create_app(settings, database=database_for(writer, reader, busy_timeout=1.0))
    holder = sqlite3.connect(str(settings.url.database), isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")  # as another process's write would
    answers: list[tuple[int, str, float]] = []
    async with client_for(app) as client:
        try:

            async def write(number: int) -> None:
                started = time.perf_counter()
                response = await client.post("/items", json={"title": f"Write {number}"})
                elapsed = time.perf_counter() - started
                answers.append((response.status_code, response.json().get("detail"), elapsed))

            with anyio.fail_after(10):
                async with anyio.create_task_group() as requests:
                    for number in range(8):
                        requests.start_soon(write, number)
        finally:
            holder.close()
        after = await client.post("/items", json={"title": "After"})
        stored = (await client.get("/items")).json()["items"]
    {{ aw }}reader.dispose()
    {{ aw }}writer.dispose()

    locked = "The database is locked by another write; try again shortly"
    assert [answer[:2] for answer in answers] == [(503, locked)] * 8
    slowest = max(answer[2] for answer in answers)
    assert 1.0 <= slowest < 1.8, [round(answer[2], 2) for answer in answers]
    assert after.status_code == 201
    assert [item["title"] for item in stored] == ["After"]


@pytest.mark.parametrize("url", ["sqlite:///./app.db", "sqlite+pysqlite:////data/app.db"])
def test_settings_accept_sqlite_urls_and_use_the_project_driver(url: str) -> None:
    settings = Settings(database_url=url)

    assert settings.url.drivername == DRIVER == "{{ 'sqlite+aiosqlite' if is_async else 'sqlite' }}"
    assert settings.url.database == url.partition(":///")[2]


@pytest.mark.parametrize("url", ["postgresql://user:secret@db/app", "app.db"])
def test_settings_refuse_a_database_url_of_another_kind(url: str) -> None:
    with pytest.raises(ValueError, match="expected a URL like sqlite:///") as error:
        Settings(database_url=url)
    assert "secret" not in str(error.value)
