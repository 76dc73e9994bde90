"""The engine, the session factory, and the session each request works in.

A request gets one session from `get_session`. The route and the functions in `repository.py`
work in it; none of them commits. When the route returns, `get_session` commits, before the
response is sent, so a client never sees a success for data that failed to save. If anything
raises, the transaction is rolled back. Either way the session is closed and its connection
goes back to the pool.
"""

from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from typing import Annotated, Any, cast

from anyio import to_thread
from fastapi import Depends, Request
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.orm import Session, sessionmaker

from .settings import Settings


def create_db_engine(
    settings: Settings, *, enforce_foreign_keys: bool = True, **options: Any
) -> Engine:
    """An engine for `settings.database_url`; `options` go to `create_engine` as they are."""
    engine = create_engine(
        settings.database_url,
        # Sessions are opened and closed in FastAPI's worker threads, not always the same one.
        connect_args={"check_same_thread": False, "timeout": settings.busy_timeout},
        **options,
    )
    in_memory = engine.url.database in (None, "", ":memory:")

    @event.listens_for(engine, "connect")
    def _configure(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy, not the sqlite3 module, decide where transactions begin (see `_begin`).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        # SQLite enforces foreign keys only for connections that ask for it.
        if enforce_foreign_keys:
            cursor.execute("PRAGMA foreign_keys = ON")
        if not in_memory:
            # Write-ahead logging lets readers and a writer work at the same time; with it,
            # synchronous=NORMAL is durable across application crashes and much faster.
            cursor.execute("PRAGMA journal_mode = WAL")
            cursor.execute("PRAGMA synchronous = NORMAL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _begin(connection: Any) -> None:
        # The sqlite3 module would begin transactions only before INSERT, UPDATE and DELETE,
        # leaving reads and savepoints outside them. An explicit BEGIN makes every session
        # one real transaction.
        connection.exec_driver_sql("BEGIN")

    return engine


@asynccontextmanager
async def open_database(settings: Settings) -> AsyncIterator[sessionmaker[Session]]:
    """Create the engine for the application's lifetime and dispose of it on shutdown."""
    # Sync routes run in AnyIO's thread pool: one pooled connection per worker thread means
    # a request never waits for a connection while a thread is free to serve it.
    threads = int(to_thread.current_default_thread_limiter().total_tokens)
    engine = create_db_engine(settings, pool_size=threads)
    try:
        yield sessionmaker(engine, expire_on_commit=False)
    finally:
        engine.dispose()


def get_sessionmaker(request: Request) -> sessionmaker[Session]:
    """The session factory that the application's lifespan opened (tests override this)."""
    return cast(sessionmaker[Session], request.state.sessionmaker)


def get_session(
    factory: Annotated[sessionmaker[Session], Depends(get_sessionmaker)],
) -> Iterator[Session]:
    """One session and one transaction per request: commit on success, roll back on error."""
    with factory.begin() as session:
        yield session


# scope="function" runs the code after `yield` (the commit) as soon as the route returns,
# before the response is sent. The default scope would run it after the response is sent.
SessionDep = Annotated[Session, Depends(get_session, scope="function")]
