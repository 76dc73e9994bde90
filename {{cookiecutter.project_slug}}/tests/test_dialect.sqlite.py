{%- set is_async = cookiecutter | session_style == "async" -%}
{%- set aw = "await " if is_async else "" -%}
"""What is particular to SQLite: the URLs the settings accept, and how connections are set up."""

from collections.abc import {{ "AsyncIterator" if is_async else "Iterator" }}
from datetime import UTC

import pytest
from database_fixtures import MakeSettings
{%- if is_async %}
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession
{%- else %}
from sqlalchemy import Engine
from sqlalchemy.orm import Session
{%- endif %}

from {{ cookiecutter.package_name }}.database import create_db_engine
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
        item = Item(title="Timed")
        session.add(item)
        {{ aw }}session.flush()  # the database's clock sets created_at

        assert item.created_at.tzinfo is UTC
        {{ aw }}session.rollback()


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
