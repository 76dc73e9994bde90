"""Settings, read from the environment or from a `.env` file in the working directory."""

from functools import lru_cache

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError

EXAMPLE_URL = "sqlite:///./app.db"
DRIVER = "{{ 'sqlite+aiosqlite' if cookiecutter | session_style == 'async' else 'sqlite' }}"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", extra="ignore", hide_input_in_errors=True)

    database_url: str = f"{DRIVER}:///./app.db"
    # Seconds a write waits for another connection's write lock before it fails.
    busy_timeout: float = Field(default=5.0, gt=0)
    # Tune Python's garbage collector while the service runs (see `tuned_garbage_collector`).
    tune_gc: bool = True

    @field_validator("database_url")
    @classmethod
    def _parse(cls, value: str) -> str:
        return parse_database_url(value).render_as_string(hide_password=False)

    @property
    def url(self) -> URL:
        return make_url(self.database_url)


def parse_database_url(value: str) -> URL:
    """Accept a SQLite URL, for any of SQLAlchemy's SQLite drivers, and turn it into this
    project's driver's; refuse any other with a message that never shows a password."""
    try:
        url = make_url(value)
    except ArgumentError:
        raise ValueError(f"expected a URL like {EXAMPLE_URL}") from None
    if url.get_backend_name() != "sqlite":
        shown = url.render_as_string(hide_password=True)
        raise ValueError(f"expected a URL like {EXAMPLE_URL}, got {shown!r}")
    return url.set(drivername=DRIVER)


@lru_cache
def get_settings() -> Settings:
    return Settings()
