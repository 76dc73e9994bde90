"""The tests' database: SQLite files of their own, never the developer's."""

from collections.abc import Callable
from pathlib import Path

import pytest

from {{ cookiecutter.package_name }}.settings import Settings

MakeSettings = Callable[[], Settings]


@pytest.fixture(scope="session")
def make_settings(tmp_path_factory: pytest.TempPathFactory) -> MakeSettings:
    """Settings for a new, empty database each time it is called."""

    def make_settings() -> Settings:
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
