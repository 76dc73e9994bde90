{%- set sync = cookiecutter | session_style == "sync" -%}
"""What SQLite needs of the engines, of each connection they open, and of the columns; and the
turns that this process's writers take."""

import sqlite3
import time
{%- if not sync %}
import weakref
{%- endif %}
from collections.abc import AsyncIterator{% if sync %}, Iterator{% endif %}
from contextlib import asynccontextmanager{% if sync %}, contextmanager{% endif %}
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any

from anyio import Semaphore, WouldBlock, {% if sync %}from_thread, {% endif %}move_on_after
from sqlalchemy import DateTime, Dialect, Engine, MetaData, event
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError
from sqlalchemy.types import TypeDecorator

from .settings import BUSY_TIMEOUT, Settings
{%- if sync %}

READ_BUSY_TIMEOUT = 0.1  # seconds
{%- endif %}

# The time by which the writer that holds the turn must have SQLite's lock, set while it holds
# it: in its task, and in the tasks and threads that it starts.
_TURN_ENDS: ContextVar[float | None] = ContextVar("turn_ends", default=None)


class Timestamp(TypeDecorator[datetime]):
    """A point in time. SQLite stores it without a time zone, as the UTC time its clock wrote:
    it is read back in UTC, so that every reader gets an aware datetime."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        moment: datetime | None = value
        if moment is not None and moment.tzinfo is None:
            return moment.replace(tzinfo=UTC)
        return moment


{%- if not sync %}


class _Connection(sqlite3.Connection):
    """A connection that closes its cursors first: a statement a cancelled request left open
    would keep it, its transaction and the write lock alive (sqlite3_close_v2) until the
    garbage collector freed the cursor."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._cursors: weakref.WeakSet[sqlite3.Cursor] = weakref.WeakSet()

    def cursor(self, *args: Any, **kwargs: Any) -> Any:
        cursor = super().cursor(*args, **kwargs)
        self._cursors.add(cursor)
        return cursor

    def close(self) -> None:
        for cursor in list(self._cursors):
            cursor.close()
        super().close()
{%- endif %}


def engine_options(settings: Settings, *, read_only: bool) -> dict[str, Any]:
    """Keyword arguments for the engine."""
{%- if sync %}
    # Reading one item runs in the event loop, where a wait for a lock stalls every request:
    # readers wait READ_BUSY_TIMEOUT at most, then get a 503 (docs/sessions.md says
    # when a reader waits at all).
    timeout = min(settings.busy_timeout, READ_BUSY_TIMEOUT) if read_only else settings.busy_timeout
    # Sessions are opened in one thread and used in another: FastAPI's worker threads.
    connect_args = {"check_same_thread": False, "timeout": timeout}
{%- else %}
    connect_args = {"factory": _Connection, "timeout": settings.busy_timeout}
{%- endif %}
    # No rollback where no transaction is open (`prepare` says how that is told): when a read
    # session ends, when a connection goes back to the pool after a commit.
    return {"connect_args": connect_args, "skip_autocommit_rollback": True}


def prepare(
    engine: Engine, settings: Settings, *, read_only: bool, enforce_foreign_keys: bool = True
) -> None:
    """Set up each connection that `engine` opens: a read-only engine's connections run each
    statement as a transaction of its own and refuse to write; the other's take the write lock
    as each transaction begins (BEGIN IMMEDIATE), so that none fails half-way for want of it,
    and wait for it no longer than their turn to write leaves them (see `WriteTurn`)."""
    in_memory = engine.url.database in (None, "", ":memory:")

    @event.listens_for(engine, "connect")
    def _configure(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy, not the sqlite3 module, decide where transactions begin.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        # SQLite enforces foreign keys only for connections that ask for it.
        if enforce_foreign_keys:
            cursor.execute("PRAGMA foreign_keys = ON")
        if read_only:
            cursor.execute("PRAGMA query_only = ON")
        if not in_memory:
            # Write-ahead logging lets readers and a writer work at the same time; with it,
            # synchronous=NORMAL is durable across application crashes and much faster.
            cursor.execute("PRAGMA journal_mode = WAL")
            cursor.execute("PRAGMA synchronous = NORMAL")
        cursor.close()
{%- if not sync %}

    # A request cancelled during a query (its client went away) invalidates its connection.
    # Stop the query, which would otherwise run on to its end in aiosqlite's thread...
    @event.listens_for(engine, "invalidate")
    def _interrupt(dbapi_connection: Any, _record: Any, _exception: Any) -> None:
        dbapi_connection.run_async(lambda connection: connection.interrupt())

    # ...and close the connection the usual way: aiosqlite 0.22 waits forever to close one that
    # SQLAlchemy's terminate() has also stopped while the close was under way.
    engine.dialect.do_terminate = engine.dialect.do_close  # type: ignore[method-assign]
{%- endif %}

    # SQLAlchemy skips a rollback where the driver is in autocommit mode, as every connection
    # here is; whether a transaction is open (a write's, a SAVEPOINT's) says if one is needed.
    # That spares each read two {{ "trips to aiosqlite's thread" if not sync else "calls into the driver" }} and each write one.
    engine.dialect.detect_autocommit_setting = _not_in_transaction  # type: ignore[method-assign,assignment]

    if not read_only:

        @event.listens_for(engine, "begin")
        def _begin(connection: Any) -> None:
            _wait_no_longer_than_the_turn(connection, settings.busy_timeout)
            connection.exec_driver_sql("BEGIN IMMEDIATE")


def _wait_no_longer_than_the_turn(connection: Any, busy_timeout: float) -> None:
    """Make SQLite's wait for its lock end when the writer's turn does: a writer that waited for
    its turn waits that much less for the lock. The setting stays with the connection, so a
    statement sets it only when it changes by more than 50 ms: never, while writers do not wait."""
    ends = _TURN_ENDS.get()
    left = busy_timeout if ends is None else max(0.0, ends - time.monotonic())
    if abs(left - connection.info.get("busy_timeout", busy_timeout)) > 0.05:
        connection.exec_driver_sql(f"PRAGMA busy_timeout = {round(left * 1000)}")
        connection.info["busy_timeout"] = left


NESTED = (
    "This code already holds the turn to write (a request's session, or a unit of work), so a "
    "unit of work opened inside it would wait for that turn for good: write through the session "
    "it holds, or hand the work to a background task, which runs after the response is sent"
)


def _refuse_if_held() -> None:
    if _TURN_ENDS.get() is not None:
        raise RuntimeError(NESTED)


class WriteTurn:
    """SQLite lets one connection write at a time: this process's writers take turns here, in
    the event loop, where waiting costs nothing, rather than in SQLite's busy handler, which
    polls for the lock. A writer waits BUSY_TIMEOUT at most in all, for its turn and then for
    the lock (another process's): past it, it fails as SQLite fails when its lock stays held,
    with SQLITE_BUSY (a 503). Code that holds the turn cannot take it again: it gets an error at
    once, rather than wait for itself."""

    def __init__(self, timeout: float = BUSY_TIMEOUT) -> None:
        self.timeout = timeout
        self._turn = Semaphore(1)

    @asynccontextmanager
    async def taken(self) -> AsyncIterator[None]:
        """Hold the turn, waited for in the event loop."""
        _refuse_if_held()
        ends = await self._take()
        token = _TURN_ENDS.set(ends)
        try:
            yield
        finally:
            _TURN_ENDS.reset(token)
            self._turn.release()
{%- if sync %}

    @contextmanager
    def taken_from_thread(self) -> Iterator[None]:
        """Hold the turn, waited for in the event loop, from one of its worker threads (a
        background task's); in a thread of no event loop's (a script's), SQLite's busy handler
        alone makes writers take turns."""
        _refuse_if_held()
        try:
            ends = from_thread.run(self._take)
        except RuntimeError:  # AnyIO's NoEventLoopError: not one of an event loop's threads
            ends = None
        if ends is None:
            yield
            return
        token = _TURN_ENDS.set(ends)
        try:
            yield
        finally:
            _TURN_ENDS.reset(token)
            from_thread.run_sync(self._turn.release)
{%- endif %}

    async def _take(self) -> float:
        ends = time.monotonic() + self.timeout
        try:
            self._turn.acquire_nowait()  # free: taken with no deadline to keep
        except WouldBlock:
            with move_on_after(self.timeout) as waiting:
                await self._turn.acquire()
            if waiting.cancelled_caught:
                # What SQLite raises when its lock stays held past the busy timeout.
                locked = sqlite3.OperationalError("database is locked")
                locked.sqlite_errorcode, locked.sqlite_errorname = 5, "SQLITE_BUSY"
                raise OperationalError("BEGIN IMMEDIATE", None, locked) from None
        return ends


def _not_in_transaction(dbapi_connection: Any) -> bool:
    return not dbapi_connection{{ ".driver_connection" if not sync }}.in_transaction


def is_unavailable(error: DBAPIError) -> bool:
    """Whether the database file cannot be used right now: it cannot be opened, its lock was
    held longer than BUSY_TIMEOUT, or its disk is full or failing. Any other error (a table
    that does not exist, a write through a read-only connection) is a bug, not an outage."""
    name = getattr(error.orig, "sqlite_errorname", "")
    return name.startswith(("SQLITE_CANTOPEN", "SQLITE_BUSY", "SQLITE_FULL", "SQLITE_IOERR"))


def transient_failure(error: DBAPIError) -> tuple[str, str, bool] | None:
    """If another try may succeed where `error` failed: its result code, what happened, and
    whether it was a conflict with a concurrent transaction (never, here: writes take turns)."""
    name = getattr(error.orig, "sqlite_errorname", "")
    if name.startswith("SQLITE_BUSY"):  # another connection held the lock past BUSY_TIMEOUT
        return name, "The database is locked by another write", False
    return None


def is_missing_table(error: DBAPIError) -> bool:
    return str(error.orig).startswith("no such table")


def unique_violation(error: IntegrityError, _metadata: MetaData) -> tuple[str, list[str]] | None:
    """The table, and the columns whose values another of its rows already holds, if `error` is a
    unique violation; SQLite names them in its message: "UNIQUE constraint failed: items.sku"."""
    if getattr(error.orig, "sqlite_errorname", "") != "SQLITE_CONSTRAINT_UNIQUE":
        return None
    columns = str(error.orig).removeprefix("UNIQUE constraint failed: ").split(", ")
    named = [column.partition(".") for column in columns if "." in column]
    return (named[0][0], [name for _table, _dot, name in named]) if named else None
