{%- set sqlite = cookiecutter.database == "sqlite" -%}
{%- set is_async = cookiecutter | session_style == "async" -%}
"""How Alembic reaches the database: the application's own settings and models."""
{% if is_async %}
import asyncio
{%- endif %}
import logging
{%- if is_async %}
from concurrent.futures import ThreadPoolExecutor
{%- endif %}
from typing import Any, Literal

from alembic import context
from alembic.autogenerate.api import AutogenContext
from sqlalchemy import Connection, TypeDecorator{% if sqlite and not is_async %}, create_engine{% endif %}
{%- if sqlite %}
{%- if is_async %}
from sqlalchemy.ext.asyncio import create_async_engine
{%- endif %}
from sqlalchemy.pool import NullPool

from {{ cookiecutter.package_name }} import dialect
{%- else %}

from {{ cookiecutter.package_name }}.database import create_db_engine
{%- endif %}
from {{ cookiecutter.package_name }}.models import Base
from {{ cookiecutter.package_name }}.settings import get_settings

config = context.config
if config.cmd_opts is not None:  # run by the `alembic` command, not from code
    logging.basicConfig(format="%(levelname)-5.5s [%(name)s] %(message)s", level=logging.INFO)


def render_item(kind: str, item: Any, _context: AutogenContext) -> str | Literal[False]:
    """A column of the application's own type (dialect.Timestamp) is written in a new migration
    as the type it stores: a migration does not import the application, which changes."""
    if kind == "type" and isinstance(item, TypeDecorator):
        return f"sa.{item.impl!r}"
    return False  # as Alembic writes it


def run_migrations(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
{%- if sqlite %}
        # SQLite can alter a table only by copying it: batch mode does that for ALTER.
        render_as_batch=True,
{%- endif %}
        compare_type=True,
        render_item=render_item,
    )
    with context.begin_transaction():
        context.run_migrations()


{% if is_async %}async def run_async_migrations{% else %}def run_migrations_online{% endif %}() -> None:
{%- if not is_async %}
    # Code that already holds a connection (the tests) passes it in; the command opens one.
    connection = config.attributes.get("connection")
    if connection is not None:
        run_migrations(connection)
        return
{%- endif %}
{%- if sqlite %}
    # Batch mode rebuilds a table by copying it and dropping the original: with foreign keys
    # enforced, that drop would cascade to the rows that refer to it.
    settings = get_settings()
    options = dialect.engine_options(settings, read_only=False)
    engine = create_{% if is_async %}async_{% endif %}engine(settings.url, poolclass=NullPool, **options)
    dialect.prepare(engine{% if is_async %}.sync_engine{% endif %}, settings, read_only=False, enforce_foreign_keys=False)
{%- else %}
    # A migration may run long (an index built over a large table), but it waits no longer than
    # LOCK_TIMEOUT for a lock: every request that needs the table would queue behind it.
    unbounded = {"statement_timeout": 0, "idle_in_transaction_timeout": 0}
    engine = create_db_engine(get_settings().model_copy(update=unbounded))
{%- endif %}
{%- if is_async %}
    async with engine.connect() as connection:
        await connection.run_sync(run_migrations)
    await engine.dispose()


def run_migrations_online() -> None:
    # Code that already holds a connection passes it in, from inside `AsyncConnection.run_sync`
    # (the tests do); the `alembic` command opens one.
    connection = config.attributes.get("connection")
    if connection is not None:
        run_migrations(connection)
        return
    try:
        asyncio.get_running_loop()
    except RuntimeError:  # no event loop running here: the usual case
        asyncio.run(run_async_migrations())
        return
    # Called from code that runs in an event loop: migrate from a thread with a loop of its own.
    with ThreadPoolExecutor(max_workers=1) as executor:
        executor.submit(asyncio.run, run_async_migrations()).result()
{%- else %}
    with engine.connect() as connection:
        run_migrations(connection)
    engine.dispose()
{%- endif %}


if context.is_offline_mode():
    raise SystemExit("Offline (--sql) migrations are not supported; run them against a database.")
run_migrations_online()
