"""Fixtures: a throwaway database built by the migrations, and a rolled-back transaction per test.

Each test's requests run in savepoints inside one transaction on one connection, so the
application commits as usual and the test still leaves nothing behind.
"""

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from alembic import command
from alembic.config import Config
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import Connection, Engine
from sqlalchemy.orm import sessionmaker

from {{ cookiecutter.package_name }}.database import Database, create_db_engine
from {{ cookiecutter.package_name }}.main import create_app
from {{ cookiecutter.package_name }}.settings import Settings


@pytest.fixture(scope="session")
def alembic_config() -> Config:
    """The project's Alembic configuration, read from pyproject.toml as `alembic` reads it."""
    return Config(toml_file=Path(__file__).parents[1] / "pyproject.toml")


@pytest.fixture(scope="session")
def make_engine(alembic_config: Config) -> Callable[[Settings], Engine]:
    """Make an engine for a new database, its schema built by the migrations."""

    def make_engine(settings: Settings) -> Engine:
        engine = create_db_engine(settings)
        with engine.begin() as connection:
            alembic_config.attributes["connection"] = connection
            command.upgrade(alembic_config, "head")
        del alembic_config.attributes["connection"]
        return engine

    return make_engine


@pytest.fixture(scope="session")
def settings(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    """Settings for a database file of the test session's own, never the developer's."""
    return Settings(database_url=f"sqlite:///{tmp_path_factory.mktemp('db') / 'test.db'}")


@pytest.fixture(scope="session")
def engine(settings: Settings, make_engine: Callable[[Settings], Engine]) -> Iterator[Engine]:
    engine = make_engine(settings)
    yield engine
    engine.dispose()


@pytest.fixture
def connection(engine: Engine) -> Iterator[Connection]:
    with engine.connect() as connection:
        transaction = connection.begin()
        yield connection
        transaction.rollback()


@pytest.fixture
def app(settings: Settings, connection: Connection) -> FastAPI:
    sessions = sessionmaker(
        connection, expire_on_commit=False, join_transaction_mode="create_savepoint"
    )
    return create_app(settings, database=Database(sessions=sessions, read_sessions=sessions))


@pytest.fixture
def client(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app) as client:
        yield client
