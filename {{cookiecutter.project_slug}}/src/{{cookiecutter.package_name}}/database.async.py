{%- set sqlite = cookiecutter.database == "sqlite" -%}
"""The engines, the session factories, the unit of work, and the session each request works in:
committed before the response is sent, rolled back on error, closed either way (docs/sessions.md
says how)."""

{% if not sqlite -%}
import asyncio
{% endif -%}
from collections.abc import AsyncIterator{% if not sqlite %}, Awaitable, Callable{% endif %}
from contextlib import asynccontextmanager
from dataclasses import dataclass{% if sqlite %}, field{% endif %}
from typing import Annotated, Any, NewType, {% if not sqlite %}TypeVar, {% endif %}cast

from fastapi import Depends, Request
{%- if not sqlite %}
from sqlalchemy.exc import DBAPIError
{%- endif %}
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.pool import QueuePool

from . import dialect, logs, metrics, {{ "retries, " if not sqlite }}shutdown{{ ", tracing" if cookiecutter.tracing == "opentelemetry" }}
from .settings import {% if sqlite %}BUSY_TIMEOUT, {% endif %}Settings

# A session that may write, as only `get_session` hands out. Data access that writes takes a
# WriteSession: the type checker refuses it a read session, or any other AsyncSession.
WriteSession = NewType("WriteSession", AsyncSession)
{%- if not sqlite %}
T = TypeVar("T")
{%- endif %}

# A session keeps what it loaded after a commit (an expired attribute would be a query, which
# an AsyncSession cannot run implicitly), and a closed one fails loudly if used again: see
# "Units of work" in docs/sessions.md.
SESSION_OPTIONS: dict[str, Any] = {"expire_on_commit": False, "close_resets_only": False}


def create_db_engine(settings: Settings, *, read_only: bool = False, **options: Any) -> AsyncEngine:
    """An engine for `settings.url`, or for `settings.read_url` if `read_only`; `options` add
    to or replace the dialect's own."""
    url = settings.read_url if read_only else settings.url
    # A statement's parameters are what clients sent: kept out of errors and the log, unless
    # LOG_SQL asks for every statement with them.
    engine_options = (
        {"hide_parameters": not settings.log_sql}
        | dialect.engine_options(settings, read_only=read_only)
        | options
    )
    pool = "read" if read_only else "write"
    if settings.metrics_enabled:
        engine_options.setdefault("poolclass", metrics.POOLS[pool])
    engine = create_async_engine(url, **engine_options)
    dialect.prepare(engine.sync_engine, settings, read_only=read_only)
    if settings.metrics_enabled:
        metrics.watch(engine.sync_engine, pool)
    return engine


@dataclass(frozen=True)
class Database:
    session_factory: async_sessionmaker[AsyncSession]  # for requests that write
    read_session_factory: async_sessionmaker[AsyncSession]  # for requests that only read
{%- if sqlite %}
    # SQLite lets one connection write at a time: writers take turns, BUSY_TIMEOUT at most.
    write_turn: dialect.WriteTurn = field(default_factory=dialect.WriteTurn)
{%- else %}
    transaction_retries: int = 3  # for `transaction`: TRANSACTION_RETRIES
{%- endif %}

    @asynccontextmanager
    async def unit_of_work(self) -> AsyncIterator[WriteSession]:
        """One session and one transaction, committed if the block succeeds, rolled back if it
        raises, closed either way: `async with database.unit_of_work() as session:` in a script, a
        worker or a background task (docs/sessions.md, "Units of work")."""
{%- if sqlite %}
        async with self.write_turn.taken(), self.session_factory.begin() as session:
{%- else %}
        async with self.session_factory.begin() as session:
{%- endif %}
            yield WriteSession(session)
{%- if not sqlite %}

    async def transaction(self, work: Callable[[WriteSession], Awaitable[T]]) -> T:
        """`work` in a unit of work, run again from its start in a new one if its transaction
        loses to a concurrent one (a deadlock, a serialization failure), up to
        `transaction_retries` times: for a script, a worker or a background task whose work may
        run twice (docs/sessions.md, "Isolation"). A request's are retried by RetryConflicts."""
        tries = 0
        while True:
            try:
                async with self.unit_of_work() as session:
                    return await work(session)
            except DBAPIError as error:
                code = retries.conflict(error)
                if code is None or tries == self.transaction_retries:
                    raise
                tries += 1
                metrics.retried(code, work="unit_of_work")
                await asyncio.sleep(retries.pause_before(tries, self.transaction_retries, code))
{%- endif %}

{% if sqlite %}
def database_for(
    writer: AsyncEngine,
    reader: AsyncEngine,
    *,
    busy_timeout: float = BUSY_TIMEOUT,
    **session_options: Any,
) -> Database:
    return Database(
        session_factory=async_sessionmaker(writer, **SESSION_OPTIONS | session_options),
        read_session_factory=async_sessionmaker(reader, **SESSION_OPTIONS | session_options),
        write_turn=dialect.WriteTurn(busy_timeout),
    )
{%- else %}
def database_for(
    writer: AsyncEngine,
    reader: AsyncEngine,
    *,
    transaction_retries: int = 3,
    **session_options: Any,
) -> Database:
    return Database(
        session_factory=async_sessionmaker(writer, **SESSION_OPTIONS | session_options),
        read_session_factory=async_sessionmaker(reader, **SESSION_OPTIONS | session_options),
        transaction_retries=transaction_retries,
    )
{%- endif %}


@asynccontextmanager
async def open_database(settings: Settings) -> AsyncIterator[Database]:
    """Create the engines for the application's lifetime and dispose of them on shutdown."""
    writer = create_db_engine(settings)
    reader = create_db_engine(settings, read_only=True)
{%- if cookiecutter.tracing == "opentelemetry" %}
    tracing.trace_statements(writer.sync_engine, reader.sync_engine)
{%- endif %}
    try:
        yield database_for(writer, reader, {{ "busy_timeout=settings.busy_timeout" if sqlite else "transaction_retries=settings.transaction_retries" }})
    finally:
{%- if cookiecutter.tracing == "opentelemetry" %}
        tracing.stop_tracing_statements()
{%- endif %}
        # A request cancelled at the server's shutdown bound has its statement cancelled with
        # it{{ " (asyncpg tells the server)" if not sqlite else "" }}, and rolls back.
        await shutdown.connections_returned([_pool(writer), _pool(reader)])
        await writer.dispose()
        await reader.dispose()


def _pool(engine: AsyncEngine) -> QueuePool:
    return cast(QueuePool, engine.pool)


def _database(request: Request) -> Database:
    return cast(Database, request.app.state.database)


async def get_session(request: Request) -> AsyncIterator[WriteSession]:
    """A unit of work per request: commit on success, roll back on error."""
    async with {{ "tracing.transaction(), " if cookiecutter.tracing == "opentelemetry" }}_database(request).unit_of_work() as session:
        try:
            yield session
        except BaseException as error:
            logs.rolled_back(error)
            raise


async def get_read_session(request: Request) -> AsyncIterator[AsyncSession]:
    """A session for a request that only reads: each statement sees committed data."""
    async with _database(request).read_session_factory() as session:
        yield session


# The database, for a route that hands work to a background task: the task opens its own unit
# of work, after the response is sent and the request's session is closed.
DatabaseDep = Annotated[Database, Depends(_database)]
# scope="function" runs the code after `yield` (the commit) as soon as the route returns,
# before the response is sent. The default scope would run it after the response is sent.
SessionDep = Annotated[WriteSession, Depends(get_session, scope="function")]
ReadSessionDep = Annotated[AsyncSession, Depends(get_read_session, scope="function")]
