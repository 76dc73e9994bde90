{%- set is_async = cookiecutter | session_style == "async" -%}
{%- set engine_type = "AsyncEngine" if is_async else "Engine" -%}
"""The tests' database: SQLite files of their own, never the developer's."""

from collections.abc import {% if is_async %}Awaitable, {% endif %}Callable
from pathlib import Path
from typing import Any

import pytest
{%- if is_async %}
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine
{%- else %}
from sqlalchemy import Engine, event
{%- endif %}

from {{ cookiecutter.package_name }}.settings import Settings

MakeSettings = Callable[[], {% if is_async %}Awaitable[Settings]{% else %}Settings{% endif %}]
# What SQLite says when a read-only connection is asked to write.
REFUSED_WRITE = "attempt to write a readonly database"


@pytest.fixture(scope="session")
def make_settings(tmp_path_factory: pytest.TempPathFactory) -> MakeSettings:
    """Settings for a new, empty database each time it is called."""

    {% if is_async %}async {% endif %}def make_settings() -> Settings:
        return Settings(database_url=f"sqlite:///{tmp_path_factory.mktemp('db') / 'test.db'}")

    return make_settings


@pytest.fixture
def unreachable_settings(tmp_path: Path) -> Settings:
    """Settings for a database that cannot be opened: its directory does not exist."""
    return Settings(database_url=f"sqlite:///{tmp_path / 'no-such-dir' / 'x.db'}")


@pytest.fixture(scope="session")
def read_only_statements() -> tuple[str, str]:
    """What makes a connection read-only, and what makes it writable again."""
    return "PRAGMA query_only = ON", "PRAGMA query_only = OFF"


@pytest.fixture
def statements(writer: {{ engine_type }}, reader: {{ engine_type }}) -> Callable[[], dict[str, list[str]]]:
    """Every statement SQLite receives from each engine's new connections, BEGIN and COMMIT
    included, as sqlite3 traces them. Call it for those sent so far, by engine."""
    sent: dict[str, list[str]] = {"writer": [], "reader": []}

    def listen(engine: {{ engine_type }}, statements: list[str]) -> None:
        running: list[str] | None = None  # traced of the statement SQLAlchemy runs, if any

        def traced(statement: str) -> None:
            if running is None:
                statements.append(statement)
            # SQLite traces a running statement again as it starts each trigger the statement
            # fires (a foreign key's ON DELETE CASCADE is one): the same text, no new statement.
            elif running[-1:] != [statement]:
                statements.append(statement)
                running.append(statement)

        def trace(dbapi_connection: Any, _record: Any) -> None:
{%- if is_async %}
            # aiosqlite runs each connection in a thread of its own: trace it there.
            dbapi_connection.run_async(lambda connection: connection.set_trace_callback(traced))
{%- else %}
            dbapi_connection.set_trace_callback(traced)
{%- endif %}

        def runs(*_args: Any) -> None:
            nonlocal running
            running = []

        def ran(*_args: Any) -> None:
            nonlocal running
            running = None

        events = engine{{ ".sync_engine" if is_async }}
        event.listen(events, "connect", trace)
        event.listen(events, "before_cursor_execute", runs)
        event.listen(events, "after_cursor_execute", ran)

    listen(writer, sent["writer"])
    listen(reader, sent["reader"])
    return lambda: {name: list(statements) for name, statements in sent.items()}
{%- if is_async %}


@pytest.fixture
def slow_query() -> str:
    """A query that keeps SQLite busy for most of a second."""
    return (
        "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 1500000)"
        " SELECT count(*) FROM n"
    )
{%- endif %}
