{%- set OWNER = ', owner="alice"' if cookiecutter.auth == "oidc" else "" -%}
"""Fixtures of the tests that commit for real: a database of the test's own, reached through the
production engines, whose connection pools the tests watch."""

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
from clients import client_for
from database_fixtures import MakeSettings
from fastapi import FastAPI
from httpx2 import AsyncClient
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession
from sqlalchemy.orm import Session

from {{ cookiecutter.package_name }} import repository
from {{ cookiecutter.package_name }}.database import (
    Database,
    SessionDep,
    create_db_engine,
    database_for,
)
from {{ cookiecutter.package_name }}.main import create_app
from {{ cookiecutter.package_name }}.models import Item
from {{ cookiecutter.package_name }}.schemas import ItemCreate
from {{ cookiecutter.package_name }}.settings import Settings

Migrate = Callable[[AsyncEngine], Awaitable[None]]


class TrackedSession(AsyncSession):
    """A session that adds itself to the list in its `info`, and knows if it was closed."""

    closed = False

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.info["made"].append(self)

    async def close(self) -> None:
        await super().close()
        self.closed = True


@pytest.fixture
async def own_settings(make_settings: MakeSettings) -> Settings:
    """Settings for a database of the test's own."""
    return await make_settings()


@pytest.fixture
async def writer(own_settings: Settings, migrate: Migrate) -> AsyncIterator[AsyncEngine]:
    """The engine of the requests that write."""
    engine = create_db_engine(own_settings)
    await migrate(engine)
    await engine.dispose()  # from here on, every connection is a new one
    yield engine
    await engine.dispose()


@pytest.fixture
async def reader(own_settings: Settings, writer: AsyncEngine) -> AsyncIterator[AsyncEngine]:
    """The engine of the requests that only read."""
    reader = create_db_engine(own_settings, read_only=True)
    yield reader
    await reader.dispose()


def checked_out(*engines: AsyncEngine) -> int:
    return sum(engine.pool.checkedout() for engine in engines)  # type: ignore[attr-defined]


@pytest.fixture
def sync_session_class() -> type[Session]:
    """A session class of this test's own, so that the test can listen to its events."""
    return type("SyncSession", (Session,), {})


@pytest.fixture
def sessions_made() -> list[TrackedSession]:
    """Every session the committing app makes, in order."""
    return []


@pytest.fixture
def committing_database(
    writer: AsyncEngine,
    reader: AsyncEngine,
    sync_session_class: type[Session],
    sessions_made: list[TrackedSession],
) -> Database:
    options: dict[str, Any] = {"class_": TrackedSession, "sync_session_class": sync_session_class}
    return database_for(writer, reader, info={"made": sessions_made}, **options)


@pytest.fixture
def committing_app(settings: Settings, committing_database: Database) -> FastAPI:
    """The application on the production engines, with a route that fails after a write."""
    app = create_app(settings, database=committing_database)

    @app.post("/fail-after-write")
    async def fail_after_write(session: SessionDep) -> None:
        item = ItemCreate(title="written, then failed")
        await repository.create_item(session, item{{ OWNER }})
        raise RuntimeError("failure after the write")

    return app


@pytest.fixture
async def committing_client(committing_app: FastAPI) -> AsyncIterator[AsyncClient]:
    async with client_for(committing_app) as client:
        yield client


async def count_items(engine: AsyncEngine) -> int:
    async with engine.connect() as connection:
        return await connection.scalar(select(func.count()).select_from(Item)) or 0
