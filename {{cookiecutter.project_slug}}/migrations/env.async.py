"""How Alembic reaches the database: the application's own settings and models."""

import asyncio
import logging
from concurrent.futures import ThreadPoolExecutor

from alembic import context
from sqlalchemy import Connection

from {{ cookiecutter.package_name }}.database import create_db_engine
from {{ cookiecutter.package_name }}.models import Base
from {{ cookiecutter.package_name }}.settings import get_settings

config = context.config
if config.cmd_opts is not None:  # run by the `alembic` command, not from code
    logging.basicConfig(format="%(levelname)-5.5s [%(name)s] %(message)s", level=logging.INFO)


def run_migrations(connection: Connection) -> None:
    context.configure(connection=connection, target_metadata=Base.metadata, compare_type=True)
    with context.begin_transaction():
        context.run_migrations()


async def run_async_migrations() -> None:
    engine = create_db_engine(get_settings())
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


if context.is_offline_mode():
    raise SystemExit("Offline (--sql) migrations are not supported; run them against a database.")
run_migrations_online()
