"""Fixtures: databases built by the migrations, and the application on them.

`app` and `client` serve each test in a transaction that is rolled back at its end: the
requests run in savepoints inside it, on one connection, so the application commits as usual
and the test still leaves nothing behind.
"""

from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from alembic import command
from alembic.config import Config
from fastapi import FastAPI
from httpx2 import ASGITransport, AsyncClient
from sqlalchemy import Connection, Engine, event
from sqlalchemy.orm import Session, SessionTransaction, sessionmaker

from {{ cookiecutter.package_name }}.database import Database, create_db_engine
from {{ cookiecutter.package_name }}.main import create_app
from {{ cookiecutter.package_name }}.settings import Settings

pytest_plugins = ["database_fixtures"]


@pytest.fixture(scope="session")
def alembic_config() -> Config:
    """The project's Alembic configuration, read from pyproject.toml as `alembic` reads it."""
    return Config(toml_file=Path(__file__).parents[1] / "pyproject.toml")


@pytest.fixture(scope="session")
def migrate(alembic_config: Config) -> Callable[[Engine], None]:
    """Build the schema of the database behind an engine with the project's migrations."""

    def migrate(engine: Engine) -> None:
        with engine.begin() as connection:
            alembic_config.attributes["connection"] = connection
            command.upgrade(alembic_config, "head")
        del alembic_config.attributes["connection"]

    return migrate


@pytest.fixture(scope="session")
def settings(make_settings: Callable[[], Settings]) -> Settings:
    return make_settings()


@pytest.fixture(scope="session")
def engine(settings: Settings, migrate: Callable[[Engine], None]) -> Iterator[Engine]:
    engine = create_db_engine(settings)
    migrate(engine)
    yield engine
    engine.dispose()


@pytest.fixture
def connection(engine: Engine) -> Iterator[Connection]:
    with engine.connect() as connection:
        transaction = connection.begin()
        yield connection
        transaction.rollback()


@pytest.fixture(scope="session")
def read_only_session_class(read_only_statements: tuple[str, str]) -> type[Session]:
    """Sessions that keep the connection read-only while they are open, as production's read
    sessions are: a route that writes through one fails in the tests too."""
    read_only, read_write = read_only_statements

    class ReadOnlySession(Session):
        pass

    @event.listens_for(ReadOnlySession, "after_begin")
    def _begin(session: Session, _transaction: SessionTransaction, connection: Any) -> None:
        connection.exec_driver_sql(read_only)
        session.info["read_only"] = connection

    @event.listens_for(ReadOnlySession, "after_transaction_end")
    def _end(session: Session, _transaction: SessionTransaction) -> None:
        if connection := session.info.pop("read_only", None):
            connection.exec_driver_sql(read_write)

    return ReadOnlySession


@pytest.fixture
def app(
    settings: Settings, connection: Connection, read_only_session_class: type[Session]
) -> FastAPI:
    options: dict[str, Any] = {"expire_on_commit": False}
    options["join_transaction_mode"] = "create_savepoint"
    database = Database(
        session_factory=sessionmaker(connection, **options),
        read_session_factory=sessionmaker(connection, class_=read_only_session_class, **options),
    )
    return create_app(settings, database=database)


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[AsyncClient]:
    async with AsyncClient(transport=ASGITransport(app=app), base_url="http://test") as client:
        yield client
