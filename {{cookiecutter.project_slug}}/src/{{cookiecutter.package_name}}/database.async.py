{%- set sqlite = cookiecutter.database == "sqlite" -%}
"""The engines, the session factories, and the session each request works in.

A request gets one session, from `get_session` if it writes or `get_read_session` if it only
reads. The route and the functions in `repository.py` work in it; none of them commits. When
the route returns, `get_session` commits, before the response is sent, so a client never sees
a success for data that failed to save. If anything raises, the transaction is rolled back.
Either way the session is closed and its connection goes back to the pool.
"""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass{% if sqlite %}, field{% endif %}
from typing import Annotated, Any, NewType, cast
{% if sqlite %}
from anyio import Lock
{%- endif %}
from fastapi import Depends, Request
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from . import dialect
from .settings import Settings

# A session that may write, as only `get_session` hands out. Data access that writes takes a
# WriteSession: the type checker refuses it a read session, or any other AsyncSession.
WriteSession = NewType("WriteSession", AsyncSession)


def create_db_engine(settings: Settings, *, read_only: bool = False, **options: Any) -> AsyncEngine:
    """An engine for `settings.url`; `options` add to or replace the dialect's own."""
    engine_options = dialect.engine_options(settings, read_only=read_only) | options
    engine = create_async_engine(settings.url, **engine_options)
    dialect.prepare(engine.sync_engine, read_only=read_only)
    return engine


@dataclass(frozen=True)
class Database:
    session_factory: async_sessionmaker[AsyncSession]  # for requests that write
    read_session_factory: async_sessionmaker[AsyncSession]  # for requests that only read
{%- if sqlite %}
    # SQLite lets one connection write at a time. Requests that write wait for their turn
    # here, in the event loop, where waiting costs nothing, rather than in SQLite's busy
    # handler, which polls for the lock and gives up after BUSY_TIMEOUT.
    write_turn: Lock = field(default_factory=Lock)
{%- endif %}


def database_for(writer: AsyncEngine, reader: AsyncEngine, **session_options: Any) -> Database:
    return Database(
        session_factory=async_sessionmaker(writer, expire_on_commit=False, **session_options),
        read_session_factory=async_sessionmaker(reader, expire_on_commit=False, **session_options),
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


async def get_session(request: Request) -> AsyncIterator[WriteSession]:
    """One session and one transaction per request: commit on success, roll back on error."""
{%- if sqlite %}
    database = _database(request)
    async with database.write_turn, database.session_factory.begin() as session:
        yield WriteSession(session)
{%- else %}
    async with _database(request).session_factory.begin() as session:
        yield WriteSession(session)
{%- endif %}


async def get_read_session(request: Request) -> AsyncIterator[AsyncSession]:
    """A session for a request that only reads: each statement sees committed data."""
    async with _database(request).read_session_factory() as session:
        yield session


# scope="function" runs the code after `yield` (the commit) as soon as the route returns,
# before the response is sent. The default scope would run it after the response is sent.
SessionDep = Annotated[WriteSession, Depends(get_session, scope="function")]
ReadSessionDep = Annotated[AsyncSession, Depends(get_read_session, scope="function")]
