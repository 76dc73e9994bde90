"""The engine, the session factories, and the session each request works in.

A request gets one session, from `get_session` if it writes or `get_read_session` if it only
reads. The route and the functions in `repository.py` work in it; none of them commits. When
the route returns, `get_session` commits, before the response is sent, so a client never sees
a success for data that failed to save. If anything raises, the transaction is rolled back.
Either way the session is closed and its connection goes back to the pool.
"""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Annotated, Any, cast

from fastapi import Depends, Request
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from .settings import Settings


def create_db_engine(settings: Settings, *, read_only: bool = False) -> AsyncEngine:
    """An engine for `settings.database_url`, with its own pool of connections.

    A read-only engine's connections run each statement as a transaction of its own
    (autocommit): a read of one statement costs one round trip, with no BEGIN and no COMMIT
    around it. The server refuses them any write.
    """
    server_settings = {"default_transaction_read_only": "on"} if read_only else {}
    return create_async_engine(
        settings.url,
        connect_args={"timeout": settings.connect_timeout, "server_settings": server_settings},
        isolation_level="AUTOCOMMIT" if read_only else "READ COMMITTED",
        pool_size=settings.pool_size,
        max_overflow=settings.max_overflow,
        pool_timeout=settings.pool_timeout,
        pool_pre_ping=settings.pool_pre_ping,
    )


@dataclass(frozen=True)
class Database:
    sessions: async_sessionmaker[AsyncSession]  # for requests that write
    read_sessions: async_sessionmaker[AsyncSession]  # for requests that only read


def database_for(writer: AsyncEngine, reader: AsyncEngine, **session_options: Any) -> Database:
    return Database(
        sessions=async_sessionmaker(writer, expire_on_commit=False, **session_options),
        read_sessions=async_sessionmaker(reader, expire_on_commit=False, **session_options),
    )


@asynccontextmanager
async def open_database(settings: Settings) -> AsyncIterator[Database]:
    """Create the engines for the application's lifetime and dispose of them on shutdown."""
    writer = create_db_engine(settings)
    reader = create_db_engine(settings, read_only=True)
    try:
        yield database_for(writer, reader)
    finally:
        await writer.dispose()
        await reader.dispose()


def _database(request: Request) -> Database:
    return cast(Database, request.app.state.database)


async def get_session(request: Request) -> AsyncIterator[AsyncSession]:
    """One session and one transaction per request: commit on success, roll back on error."""
    async with _database(request).sessions.begin() as session:
        yield session


async def get_read_session(request: Request) -> AsyncIterator[AsyncSession]:
    """A session for a request that only reads: each statement sees committed data."""
    async with _database(request).read_sessions() as session:
        yield session


# scope="function" runs the code after `yield` (the commit) as soon as the route returns,
# before the response is sent. The default scope would run it after the response is sent.
SessionDep = Annotated[AsyncSession, Depends(get_session, scope="function")]
ReadSessionDep = Annotated[AsyncSession, Depends(get_read_session, scope="function")]
