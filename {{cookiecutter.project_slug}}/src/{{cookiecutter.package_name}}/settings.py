{%- set sqlite = cookiecutter.database == "sqlite" -%}
{%- set is_async = cookiecutter | session_style == "async" -%}
"""Settings, read from the environment or from a `.env` file in the working directory."""

import json
import re
from functools import lru_cache
from typing import Annotated, Literal

from pydantic import AfterValidator, BeforeValidator, Field, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError
{% if sqlite %}
EXAMPLE_URL = "sqlite:///./app.db"
DRIVER = "{{ 'sqlite+aiosqlite' if is_async else 'sqlite' }}"
BUSY_TIMEOUT = 5.0  # seconds, unless BUSY_TIMEOUT says otherwise
{%- else %}
EXAMPLE_URL = "postgresql://user:password@localhost:5432/items"
DRIVER = "{{ 'postgresql+asyncpg' if is_async else 'postgresql+psycopg' }}"
{%- endif %}
LogLevel = Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"]{% if not sqlite %}
IsolationLevel = Literal["read_committed", "repeatable_read", "serializable"]
{%- endif %}


def _list(value: object) -> object:
    """A JSON list, as pydantic-settings reads lists (`["https://a.example"]`), or items
    separated by commas, as one writes them by hand."""
    if isinstance(value, str) and value.lstrip().startswith("["):
        try:
            return json.loads(value)
        except json.JSONDecodeError as error:
            raise ValueError(f"not a JSON list ({error.msg}): use a JSON list or commas") from None
    if isinstance(value, str):
        return [item.strip() for item in value.split(",") if item.strip()]
    return value


def _origin(value: str) -> str:
    """A browser's Origin header is a scheme, a host and a port, no path: nothing else matches."""
    if value != "*" and not re.fullmatch(r"https?://[^/?#\s]+", value):
        raise ValueError(f"expected an origin like https://app.example.com, got {value!r}")
    return value


Origin = Annotated[str, AfterValidator(_origin)]
{%- if cookiecutter.auth == "oidc" %}


def _issuer(value: str) -> str:
    """An OpenID provider's URL: https, or http on this machine only (a provider for tests)."""
    loopback = r"http://(?:127\.0\.0\.1|localhost|\[::1\])(?::[0-9]+)?"
    if value and not re.fullmatch(rf"(?:https://[^/?#\s]+|{loopback})(?:/[^?#\s]*)?", value):
        raise ValueError(f"expected an https URL like https://login.example.com, got {value!r}")
    return value
{%- endif %}


class Settings(BaseSettings):
{%- if not sqlite %}
    # Errors never echo the input: a DATABASE_URL holds a password.
{%- endif %}
    model_config = SettingsConfigDict(
        env_file=".env", env_file_encoding="utf-8", extra="ignore", hide_input_in_errors=True
    )

{%- if sqlite %}

    database_url: str = f"{DRIVER}:///./app.db"
    # Seconds a write waits for another connection's write lock before it fails.
    busy_timeout: float = Field(default=BUSY_TIMEOUT, gt=0)
{%- else %}

    database_url: str = Field(default=f"{DRIVER}://postgres@localhost:5432/items", repr=False)
    # Where the requests that only read go (a replica, say); by default, DATABASE_URL.
    read_database_url: str | None = Field(default=None, repr=False)
    # What stands between the service and PostgreSQL: nothing, or a pooler in transaction mode
    # (PgBouncer's `pool_mode = transaction`): then no prepared statement and no setting
    # outlives its transaction (docs/scaling.md).
    database_pooler: Literal["none", "transaction"] = "none"
    # Connections in each of the two pools (writes, reads): a process holds up to
    # 2 x (pool_size + max_overflow); a request that finds every one busy waits `pool_timeout`
    # at most, then gets a 503 (docs/scaling.md, the connection budget).
    pool_size: int = Field(default=5, ge=1)
    max_overflow: int = Field(default=0, ge=0)
    # Seconds a request waits for a free connection, and for a new one to connect.
    pool_timeout: float = Field(default=5.0, gt=0)
    connect_timeout: float = Field(default=5.0, gt=0)
    # Test each connection as it leaves the pool (a round trip per request); without it, the
    # first request after the server restarts fails (503) and the pool renews itself.
    pool_pre_ping: bool = False
    # Bounds on the server's waits, in seconds (0: none), set on every connection, behind a
    # pooler too: a statement's run, a wait for a lock that another transaction holds, and a
    # transaction left open with no statement running, which the server ends with its
    # connection. A request that runs past one gets a 503 (docs/errors.md, "Limits").
    statement_timeout: float = Field(default=5.0, ge=0)
    lock_timeout: float = Field(default=2.0, ge=0)
    idle_in_transaction_timeout: float = Field(default=10.0, ge=0)
    # The isolation level of the transactions that write ("Isolation" in docs/sessions.md
    # says what each buys and costs); reads see committed data, statement by statement.
    isolation_level: IsolationLevel = "read_committed"
    # Times a write whose transaction lost to a concurrent one (a deadlock, a serialization
    # failure) is run again before its client gets the 409 (retries.py); 0: never.
    transaction_retries: int = Field(default=3, ge=0)
{%- endif %}
    # Tune Python's garbage collector while the service runs (see `tuned_garbage_collector`).
    tune_gc: bool = True
    # What the service and the libraries it runs on log, and how (see `logs.py`): text for a
    # terminal, json (one object per line) for a log collector. LOG_SQL logs every statement.
    log_level: Annotated[LogLevel, BeforeValidator(lambda value: str(value).upper())] = "INFO"
    log_format: Literal["text", "json"] = "text"
    log_sql: bool = False
    # The largest request body accepted, in bytes: a larger one is a 413, refused as it streams
    # in, before it is parsed (docs/errors.md, "Limits", says why 1 MiB).
    max_body_size: int = Field(default=1_048_576, ge=0)
    # Serve Prometheus metrics at GET /metrics (see `metrics.py`): inside the network only.
    metrics_enabled: bool = False
    # Refuse (428) a PUT, PATCH or DELETE of an item that does not say, in If-Match, which
    # version of the item it read: no client can then overwrite a change it has not seen.
    require_if_match: bool = False
    # The web origins whose pages may call the API from a browser (CORS), separated by commas
    # or as a JSON list; none by default.
    cors_origins: Annotated[list[Origin], NoDecode, BeforeValidator(_list)] = []
{%- if cookiecutter.auth == "oidc" %}
    # Who may call the items API (auth.py, docs/auth.md): the holders of access tokens that the
    # OpenID provider at OIDC_ISSUER (its URL, exactly as its tokens' `iss` claim gives it)
    # issued for OIDC_AUDIENCE (the API's identifier there, the tokens' `aud`). Both must be set
    # for the service to start.
    oidc_issuer: Annotated[str, AfterValidator(_issuer)] = ""
    oidc_audience: str = ""
    # The scopes that reading and writing items need: providers name scopes differently.
    oidc_read_scope: str = "items:read"
    oidc_write_scope: str = "items:write"
    # Seconds of difference allowed between the provider's clock and this machine's, for the
    # tokens' `exp` and `nbf`.
    oidc_leeway: float = Field(default=30.0, ge=0)
    # The least seconds between two fetches of the provider's keys for tokens signed with a
    # key it had not published: a new key is in use within this long of its first token.
    oidc_keys_refetch_interval: float = Field(default=30.0, gt=0, le=60)
    # The client id, at the provider, of the API docs' page (a public client, allowed the
    # redirect to /docs/oauth2-redirect): its Authorize button then signs in at the provider
    # (the authorization code flow, with PKCE). Empty: the button takes a pasted token only.
    oidc_docs_client_id: str = ""
{%- endif %}
{%- if sqlite %}

    @field_validator("database_url")
    @classmethod
    def _parse(cls, value: str) -> str:
        return parse_database_url(value).render_as_string(hide_password=False)

    @property
    def url(self) -> URL:
        return make_url(self.database_url)

    @property
    def read_url(self) -> URL:
        """The URL of the database that the requests that only read go to: the same file."""
        return self.url
{%- else %}

    @field_validator("database_url", "read_database_url")
    @classmethod
    def _parse(cls, value: str | None) -> str | None:
        if not value:  # READ_DATABASE_URL= (empty): reads go where writes go
            return None
        return parse_database_url(value).render_as_string(hide_password=False)

    @property
    def url(self) -> URL:
        """The database URL; its `repr` and `str` hide the password."""
        return make_url(self.database_url)

    @property
    def read_url(self) -> URL:
        """The URL of the database that the requests that only read go to."""
        return make_url(self.read_database_url or self.database_url)
{%- endif %}


def parse_database_url(value: str) -> URL:
{%- if sqlite %}
    """Accept a SQLite URL, for any of SQLAlchemy's SQLite drivers, and turn it into this
    project's driver's; refuse any other with a message that never shows a password."""
{%- elif is_async %}
    """Accept the URL forms people paste (`postgres://`, `postgresql://`, libpq's `sslmode`) and
    turn them into the asyncpg driver's; refuse any other without showing a password."""
{%- else %}
    """Accept the URL forms people paste (`postgres://`, `postgresql://`) and turn them into the
    psycopg driver's; refuse any other without showing a password."""
{%- endif %}
    try:
        url = make_url(value)
    except ArgumentError:
        raise ValueError(f"expected a URL like {EXAMPLE_URL}") from None
    if {% if sqlite %}url.get_backend_name() != "sqlite"{% else %}url.drivername not in {"postgres", "postgresql", DRIVER}{% endif %}:
        shown = url.render_as_string(hide_password=True)
        raise ValueError(f"expected a URL like {EXAMPLE_URL}, got {shown!r}")
{%- if sqlite %}
    return url.set(drivername=DRIVER)
{%- else %}
    url = url.set(drivername=DRIVER)
{%- if is_async %}
    if "sslmode" in url.query:  # asyncpg calls libpq's `sslmode` parameter `ssl`
        ssl = url.normalized_query["sslmode"][-1]
        url = url.difference_update_query(["sslmode"]).update_query_dict({"ssl": ssl})
{%- endif %}
    return url
{%- endif %}


@lru_cache
def get_settings() -> Settings:
    return Settings()
