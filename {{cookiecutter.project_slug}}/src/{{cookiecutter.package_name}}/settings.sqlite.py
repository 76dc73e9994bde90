"""Settings, read from the environment or from a `.env` file in the working directory."""

from functools import lru_cache

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", extra="ignore", hide_input_in_errors=True)

    database_url: str = "sqlite:///./app.db"
    # Seconds a write waits for another connection's write lock before it fails.
    busy_timeout: float = Field(default=5.0, gt=0)

    @field_validator("database_url")
    @classmethod
    def _must_be_sqlite(cls, value: str) -> str:
        try:
            url = make_url(value)
        except ArgumentError:
            raise ValueError("expected a URL like sqlite:///./app.db") from None
        if url.get_backend_name() != "sqlite":
            shown = url.render_as_string(hide_password=True)
            raise ValueError(f"expected a URL like sqlite:///./app.db, got {shown!r}")
        return value


@lru_cache
def get_settings() -> Settings:
    return Settings()
