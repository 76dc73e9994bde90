{%- set sqlite = cookiecutter.database == "sqlite" -%}
"""The engines, the session factories, the unit of work, and the session each request works in:
committed before the response is sent, rolled back on error, closed either way (docs/sessions.md
says how)."""

{% if not sqlite -%}
import time
{% endif -%}
from collections.abc import AsyncIterator{% if not sqlite %}, Callable{% endif %}, Iterator
from contextlib import {% if not sqlite %}AbstractContextManager, {% endif %}asynccontextmanager, contextmanager
from dataclasses import dataclass, field
{%- if not sqlite %}
from functools import partial
{%- endif %}
from typing import Annotated, Any, NewType, {% if not sqlite %}TypeVar, {% endif %}cast

from anyio import {% if not sqlite %}CancelScope, CapacityLimiter, move_on_after, {% endif %}to_thread
from fastapi import Depends, Request
from sqlalchemy import Engine, create_engine
{%- if not sqlite %}
from sqlalchemy.exc import DBAPIError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
{%- endif %}
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import QueuePool

from . import dialect, logs, metrics, {{ "retries, " if not sqlite }}shutdown{{ ", tracing" if cookiecutter.tracing == "opentelemetry" }}
from .settings import {% if sqlite %}BUSY_TIMEOUT, {% endif %}Settings

{% if not sqlite -%}
T = TypeVar("T")

{% endif -%}
# A session that may write, as only `get_session` hands out. Data access that writes takes a
# WriteSession: the type checker refuses it a read session, or any other Session.
WriteSession = NewType("WriteSession", Session)

# A session keeps what it loaded after a commit (a response is built after it), and a closed
# one fails loudly if used again (a background task that took the request's session).
SESSION_OPTIONS: dict[str, Any] = {"expire_on_commit": False, "close_resets_only": False}


def create_db_engine(settings: Settings, *, read_only: bool = False, **options: Any) -> Engine:
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
{%- if sqlite %}
    if settings.metrics_enabled:
        engine_options.setdefault("poolclass", metrics.POOLS[pool])
{%- endif %}
    engine = create_engine(url, **engine_options)
    dialect.prepare(engine, settings, read_only=read_only)
    if settings.metrics_enabled:
        metrics.watch(engine, pool)
    return engine


@dataclass(frozen=True)
class Database:
    session_factory: sessionmaker[Session]  # for requests that write
    read_session_factory: sessionmaker[Session]  # for requests that only read
{%- if sqlite %}
    # SQLite lets one connection write at a time: writers wait for their turn in the event
    # loop, not in a worker thread the lock's holder may need to finish its request, and
    # BUSY_TIMEOUT at most.
    write_turn: dialect.WriteTurn = field(default_factory=dialect.WriteTurn)
{%- else %}
    # A place per connection its pool may hold, waited for in the event loop (POOL_TIMEOUT at
    # most, then a 503), never in a worker thread: docs/sessions.md says why.
    places: CapacityLimiter = field(default_factory=lambda: CapacityLimiter(1))
    read_places: CapacityLimiter = field(default_factory=lambda: CapacityLimiter(1))
    wait: float = 30.0
    measured: bool = False  # the waits go to the metrics (METRICS_ENABLED)
    transaction_retries: int = 3  # for `transaction`: TRANSACTION_RETRIES
{%- endif %}

    @contextmanager
    def unit_of_work(self) -> Iterator[WriteSession]:
        """One session and one transaction, committed if the block succeeds, rolled back if it
        raises, closed either way: `with database.unit_of_work() as session:` in a script, a
        worker or a background task (docs/sessions.md, "Units of work")."""
{%- if sqlite %}
        with self.write_turn.taken_from_thread(), self._transaction() as session:
            yield session

    @contextmanager
    def _transaction(self) -> Iterator[WriteSession]:
        """The unit of work, without the turn to write: for a holder of the turn."""
{%- endif %}
        with self.session_factory.begin() as session:
            yield WriteSession(session)
{%- if not sqlite %}

    def transaction(self, work: Callable[[WriteSession], T]) -> T:
        """`work` in a unit of work, run again from its start in a new one if its transaction
        loses to a concurrent one (a deadlock, a serialization failure), up to
        `transaction_retries` times: for a script, a worker or a background task whose work may
        run twice (docs/sessions.md, "Isolation"). A request's are retried by RetryConflicts."""
        tries = 0
        while True:
            try:
                with self.unit_of_work() as session:
                    return work(session)
            except DBAPIError as error:
                code = retries.conflict(error)
                if code is None or tries == self.transaction_retries:
                    raise
                tries += 1
                metrics.retried(code, work="unit_of_work")
                time.sleep(retries.pause_before(tries, self.transaction_retries, code))
{%- endif %}

{% if sqlite %}
def database_for(
    writer: Engine,
    reader: Engine,
    *,
    busy_timeout: float = BUSY_TIMEOUT,
    **session_options: Any,
) -> Database:
    return Database(
        session_factory=sessionmaker(writer, **SESSION_OPTIONS | session_options),
        read_session_factory=sessionmaker(reader, **SESSION_OPTIONS | session_options),
        write_turn=dialect.WriteTurn(busy_timeout),
    )
{%- else %}
def database_for(
    writer: Engine,
    reader: Engine,
    *,
    places: int | None = None,
    measured: bool = False,
    transaction_retries: int = 3,
    **session_options: Any,
) -> Database:
    """A database on two engines whose pools each hold up to `places` connections (by
    default, as many as the writer's pool keeps open)."""
    pool = cast(QueuePool, writer.pool)
    places = places or pool.size()
    return Database(
        session_factory=sessionmaker(writer, **SESSION_OPTIONS | session_options),
        read_session_factory=sessionmaker(reader, **SESSION_OPTIONS | session_options),
        places=CapacityLimiter(places),
        read_places=CapacityLimiter(places),
        wait=pool.timeout(),
        measured=measured,
        transaction_retries=transaction_retries,
    )
{%- endif %}


@asynccontextmanager
async def open_database(settings: Settings) -> AsyncIterator[Database]:
    """Create the engines for the application's lifetime and dispose of them on shutdown."""
{%- if sqlite %}
    # Sync routes run in AnyIO's thread pool: a pooled connection for each worker thread, and
    # more when needed rather than a wait (SQLite's connections are cheap).
    threads = int(to_thread.current_default_thread_limiter().total_tokens)
    writer = create_db_engine(settings, pool_size=threads, max_overflow=-1)
    reader = create_db_engine(settings, read_only=True, pool_size=threads, max_overflow=-1)
{%- if cookiecutter.tracing == "opentelemetry" %}
    tracing.trace_statements(writer, reader)
{%- endif %}
    try:
        yield database_for(writer, reader, busy_timeout=settings.busy_timeout)
    finally:
{%- if cookiecutter.tracing == "opentelemetry" %}
        tracing.stop_tracing_statements()
{%- endif %}
        # A write cancelled at the server's shutdown bound while it waits for SQLite's lock
        # waits no longer than BUSY_TIMEOUT.
        await shutdown.connections_returned([_pool(writer), _pool(reader)])
        writer.dispose()
        reader.dispose()
{%- else %}
    writer = create_db_engine(settings)
    reader = create_db_engine(settings, read_only=True)
{%- if cookiecutter.tracing == "opentelemetry" %}
    tracing.trace_statements(writer, reader)
{%- endif %}
    try:
        places = settings.pool_size + settings.max_overflow
        yield database_for(
            writer,
            reader,
            places=places,
            measured=settings.metrics_enabled,
            transaction_retries=settings.transaction_retries,
        )
    finally:
{%- if cookiecutter.tracing == "opentelemetry" %}
        tracing.stop_tracing_statements()
{%- endif %}
        # A route cancelled at the server's shutdown bound goes on in its thread: its statement
        # is cancelled on the server (it may be waiting for a lock), so that it rolls back.
        await shutdown.connections_returned(
            [_pool(writer), _pool(reader)], interrupt=partial(dialect.interrupt, writer, reader)
        )
        writer.dispose()
        reader.dispose()
{%- endif %}


def _pool(engine: Engine) -> QueuePool:
    return cast(QueuePool, engine.pool)


def _database(request: Request) -> Database:
    return cast(Database, request.app.state.database)

{% if sqlite %}
# Async, though the session is not: what they do in the event loop waits on no other
# connection (docs/sessions.md says why).
async def get_session(request: Request) -> AsyncIterator[WriteSession]:
    """A unit of work per request: commit on success, roll back on error."""
    database = _database(request)
    async with {{ "tracing.transaction(), " if cookiecutter.tracing == "opentelemetry" }}database.write_turn.taken():
        with database._transaction() as session:
            try:
                yield session
            except BaseException as error:
                logs.rolled_back(error)
                raise


async def get_read_session(request: Request) -> AsyncIterator[Session]:
    """A session for a request that only reads: each statement sees committed data."""
    with _database(request).read_session_factory() as session:
        yield session
{%- else %}
# Both wait for a place in the event loop. A write session ends in a worker thread of its own,
# which no route can hold up; a read session, with no transaction to end, in the event loop.
async def get_session(request: Request) -> AsyncIterator[WriteSession]:
    """A unit of work per request: commit on success, roll back on error."""
    database = _database(request)
    async with (
{%- if cookiecutter.tracing == "opentelemetry" %}
        tracing.transaction(),
{%- endif %}
        _place(database.places, database.wait, "write" if database.measured else None),
        _ending_in_own_thread(database.unit_of_work()) as session,
    ):
        try:
            yield session
        except BaseException as error:
            logs.rolled_back(error)
            raise


async def get_read_session(request: Request) -> AsyncIterator[Session]:
    """A session for a request that only reads: each statement sees committed data."""
    database = _database(request)
    async with _place(database.read_places, database.wait, "read" if database.measured else None):
        with database.read_session_factory() as session:
            yield session


@asynccontextmanager
async def _place(places: CapacityLimiter, wait: float, pool: str | None) -> AsyncIterator[None]:
    started = time.perf_counter()
    with move_on_after(wait) as waiting:
        await places.acquire()
    if pool:  # measured
        seconds = time.perf_counter() - started
        metrics.waited(pool, seconds, timed_out=waiting.cancelled_caught)
    if waiting.cancelled_caught:
        raise PoolTimeoutError(f"No connection came free within {wait} seconds")
    try:
        yield
    finally:
        places.release()


@asynccontextmanager
async def _ending_in_own_thread(unit: AbstractContextManager[T]) -> AsyncIterator[T]:
    """`unit`, begun here (making a session does no I/O) and ended (the commit or the rollback,
    and the close) in a worker thread of its own."""
    value = unit.__enter__()
    try:
        yield value
    except BaseException as error:
        await _in_own_thread(partial(unit.__exit__, type(error), error, error.__traceback__))
        raise
    await _in_own_thread(partial(unit.__exit__, None, None, None))


async def _in_own_thread(work: Callable[[], object]) -> None:
    with CancelScope(shield=True):
        await to_thread.run_sync(work, limiter=CapacityLimiter(1))
{%- endif %}


# The database, for a route that hands work to a background task: the task opens its own unit
# of work, after the response is sent and the request's session is closed.
DatabaseDep = Annotated[Database, Depends(_database)]
# scope="function" runs the code after `yield` (the commit) as soon as the route returns,
# before the response is sent. The default scope would run it after the response is sent.
SessionDep = Annotated[WriteSession, Depends(get_session, scope="function")]
ReadSessionDep = Annotated[Session, Depends(get_read_session, scope="function")]
