"""Fixtures: `app` and `client` serve each test in a transaction rolled back at its end, the
requests in savepoints inside it, so the application commits as usual and leaves nothing
behind (the database: database_fixtures.py; the transaction and the app: session_fixtures.py)."""

import io
import json
{%- if cookiecutter.auth == "oidc" %}
import os
{%- endif %}
import random
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import anyio
import pytest
from alembic.config import Config
from clients import client_for
from fastapi import FastAPI
from httpx2 import AsyncClient
{%- if cookiecutter.auth == "oidc" %}
from issuer import AUDIENCE, provider
{%- endif %}
from sqlalchemy import Connection, Engine, event, inspect
from sqlalchemy.orm import Session, SessionTransaction

from {{ cookiecutter.package_name }}.logs import configure_logging
from {{ cookiecutter.package_name }}.settings import Settings, get_settings

{%- if cookiecutter.auth == "oidc" %}

# The service accepts the access tokens of the OpenID provider the tests run on loopback, in
# this process and in those it starts; set before the fixtures below import the application.
os.environ |= {"OIDC_ISSUER": provider().url, "OIDC_AUDIENCE": AUDIENCE}
{%- endif %}

pytest_plugins = ["database_fixtures", "session_fixtures", "committing_fixtures"]


@pytest.fixture(scope="session")
def alembic_config() -> Config:
    """The project's Alembic configuration, read from pyproject.toml as `alembic` reads it."""
    return Config(toml_file=Path(__file__).parents[1] / "pyproject.toml")


@pytest.fixture(scope="session")
def schema() -> Callable[[Engine | Connection], dict[str, Any]]:
    """What the database reports about the application's tables, to compare two schemas."""

    def schema(bind: Engine | Connection) -> dict[str, Any]:
        inspector = inspect(bind)
        return {
            table: {
                # Column types compare by identity: compare what they print instead.
                "columns": [
                    column | {"type": repr(column["type"])}
                    for column in inspector.get_columns(table)
                ],
                "primary_key": inspector.get_pk_constraint(table),
                "unique": inspector.get_unique_constraints(table),
                "indexes": inspector.get_indexes(table),
                "checks": inspector.get_check_constraints(table),
                "foreign_keys": inspector.get_foreign_keys(table),
            }
            for table in sorted(inspector.get_table_names())
            if table != "alembic_version"
        }

    return schema


@pytest.fixture(scope="session")
def read_only_session_class(read_only_statements: tuple[str, str]) -> type[Session]:
    """Sessions that keep the connection read-only while they are open, as production's read
    sessions are: a route that writes through one fails in the tests too."""
    read_only, read_write = read_only_statements

    class ReadOnlySession(Session):
        pass

    @event.listens_for(ReadOnlySession, "after_begin")
    def _begin(session: Session, transaction: SessionTransaction, connection: Any) -> None:
        if transaction.parent is None:  # the session's own transaction, not a nested one
            connection.exec_driver_sql(read_only)
            session.info["read_only"] = connection

    @event.listens_for(ReadOnlySession, "after_transaction_end")
    def _end(session: Session, transaction: SessionTransaction) -> None:
        if transaction.parent is None and (connection := session.info.pop("read_only", None)):
            connection.exec_driver_sql(read_write)

    return ReadOnlySession


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[AsyncClient]:
    async with client_for(app) as client:
        yield client


@pytest.fixture(scope="session")
def cancel_at_random_moments() -> Callable[[FastAPI], Awaitable[None]]:
    """Send `app` a few requests of every kind and cancel them at a random moment, as a server
    does when its clients go away, a hundred times; after each time, a write must be answered
    at once: nothing the cancelled requests left behind may hold it up."""

    async def cancel(app: FastAPI) -> None:
        async with client_for(app) as client:
            url = f"/items/{(await client.post('/items', json={'title': 'First'})).json()['id']}"
            calls = {
                "create": lambda: client.post("/items", json={"title": "New"}),
                "update": lambda: client.patch(url, json={"title": "Changed"}),
                "read": lambda: client.get(url),
                "list": lambda: client.get("/items"),
            }
            for _ in range(100):
                chosen = random.choices(list(calls), k=random.randint(1, 6))
                delay = random.uniform(0, 0.02)
                async with anyio.create_task_group() as requests:
                    for name in chosen:
                        requests.start_soon(calls[name])
                    await anyio.sleep(delay)
                    requests.cancel_scope.cancel()
                status = None  # no answer within two seconds
                with anyio.move_on_after(2):
                    status = (await client.patch(url, json={"title": "After"})).status_code
                assert status == 200, f"{chosen} cancelled at {delay:.4f} s"

    return cancel


@pytest.fixture
def log(settings: Settings) -> Iterator[Callable[[], list[dict[str, Any]]]]:
    """The log in JSON, everything from DEBUG up and every SQL statement: what it has so far.
    (Asked for before the app, so that the app's connections log their statements.)"""
    stream = io.StringIO()
    configure_logging(
        settings.model_copy(update={"log_format": "json", "log_level": "DEBUG", "log_sql": True}),
        stream,
    )
    yield lambda: [json.loads(line) for line in stream.getvalue().splitlines()]
    configure_logging(get_settings())  # as the service's import left it
