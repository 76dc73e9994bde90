{%- set OWNER = ', owner="alice"' if cookiecutter.auth == "oidc" else "" -%}
"""Fixtures of the tests that commit for real: a database of the test's own, reached through the
production engines, whose connection pools the tests watch."""

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from clients import threaded_client
from database_fixtures import MakeSettings
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import Engine, func, select
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


class TrackedSession(Session):
    """A session that adds itself to the list in its `info`, and knows if it was closed."""

    closed = False

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.info["made"].append(self)

    def close(self) -> None:
        super().close()
        self.closed = True


@pytest.fixture
def own_settings(make_settings: MakeSettings) -> Settings:
    """Settings for a database of the test's own."""
    return make_settings()


@pytest.fixture
def writer(own_settings: Settings, migrate: Callable[[Engine], None]) -> Iterator[Engine]:
    """The engine of the requests that write."""
    engine = create_db_engine(own_settings)
    migrate(engine)
    engine.dispose()  # from here on, every connection is a new one
    yield engine
    engine.dispose()


@pytest.fixture
def reader(own_settings: Settings, writer: Engine) -> Iterator[Engine]:
    """The engine of the requests that only read."""
    engine = create_db_engine(own_settings, read_only=True)
    yield engine
    engine.dispose()


@pytest.fixture
def sessions_made() -> list[TrackedSession]:
    """Every session the committing app makes, in order."""
    return []


@pytest.fixture
def committing_database(
    writer: Engine, reader: Engine, sessions_made: list[TrackedSession]
) -> Database:
    return database_for(writer, reader, class_=TrackedSession, info={"made": sessions_made})


@pytest.fixture
def committing_app(settings: Settings, committing_database: Database) -> FastAPI:
    """The application on the production engines, with a route that fails after a write."""
    app = create_app(settings, database=committing_database)

    @app.post("/fail-after-write")
    def fail_after_write(session: SessionDep) -> None:
        repository.create_item(session, ItemCreate(title="written, then failed"){{ OWNER }})
        raise RuntimeError("failure after the write")

    return app


@pytest.fixture
def committing_client(committing_app: FastAPI) -> Iterator[TestClient]:
    with threaded_client(committing_app, raise_server_exceptions=False) as client:
        yield client


def count_items(engine: Engine) -> int:
    with engine.connect() as connection:
        return connection.scalar(select(func.count()).select_from(Item)) or 0


def checked_out(*engines: Engine) -> int:
    return sum(engine.pool.checkedout() for engine in engines)  # type: ignore[attr-defined]
