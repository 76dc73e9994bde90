"""What is particular to SQLite: the URLs the settings accept, and how connections are set up."""

from collections.abc import Iterator
from datetime import UTC

import pytest
from database_fixtures import MakeSettings
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from {{ cookiecutter.package_name }}.database import create_db_engine
from {{ cookiecutter.package_name }}.models import Item
from {{ cookiecutter.package_name }}.settings import Settings


@pytest.fixture
def writer(make_settings: MakeSettings) -> Iterator[Engine]:
    """An engine of the kind requests that write use, on a database of the test's own."""
    engine = create_db_engine(make_settings())
    yield engine
    engine.dispose()


def test_each_connection_enforces_foreign_keys_and_uses_wal(writer: Engine) -> None:
    with writer.connect() as connection:
        assert connection.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
        assert connection.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert connection.exec_driver_sql("PRAGMA query_only").scalar() == 0


def test_times_are_read_back_aware_in_utc(engine: Engine) -> None:
    with Session(engine) as session:
        item = Item(title="Timed")
        session.add(item)
        session.flush()  # the database's clock sets created_at

        assert item.created_at.tzinfo is UTC
        session.rollback()


@pytest.mark.parametrize("url", ["sqlite:///./app.db", "sqlite+pysqlite:////data/app.db"])
def test_settings_accept_sqlite_urls(url: str) -> None:
    assert Settings(database_url=url).database_url == url


@pytest.mark.parametrize("url", ["postgresql://user:secret@db/app", "app.db"])
def test_settings_refuse_a_database_url_of_another_kind(url: str) -> None:
    with pytest.raises(ValueError, match="expected a URL like sqlite:///") as error:
        Settings(database_url=url)
    assert "secret" not in str(error.value)
