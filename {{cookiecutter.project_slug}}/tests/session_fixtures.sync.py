"""Fixtures of the session style: the engine, the test's transaction, and the app on it."""

from collections.abc import Callable, Iterator

import pytest
from alembic import command
from alembic.config import Config
from fastapi import FastAPI
from sqlalchemy import Connection, Engine
from sqlalchemy.orm import Session, sessionmaker

from {{ cookiecutter.package_name }}.database import SESSION_OPTIONS, Database, create_db_engine
from {{ cookiecutter.package_name }}.main import create_app
from {{ cookiecutter.package_name }}.settings import Settings


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


@pytest.fixture
def app(
    settings: Settings, connection: Connection, read_only_session_class: type[Session]
) -> FastAPI:
    # Each request's commit releases a savepoint; the test's transaction is rolled back.
    options = SESSION_OPTIONS | {"join_transaction_mode": "create_savepoint"}
    database = Database(
        session_factory=sessionmaker(connection, **options),
        read_session_factory=sessionmaker(connection, class_=read_only_session_class, **options),
    )
    return create_app(settings, database=database)
