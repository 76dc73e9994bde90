"""The engine, the session factory, and the session each request works in.

A request gets one session from `get_session`. The route and the functions in `repository.py`
work in it; none of them commits. When the route returns, `get_session` commits, before the
response is sent, so a client never sees a success for data that failed to save. If anything
raises, the transaction is rolled back. Either way the session is closed and its connection
goes back to the pool.
"""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated, cast

from fastapi import Depends, Request
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from .settings import Settings


def create_db_engine(settings: Settings) -> AsyncEngine:
    return create_async_engine(
        settings.url,
        connect_args={"timeout": settings.connect_timeout},
        pool_size=settings.pool_size,
        max_overflow=settings.max_overflow,
        pool_timeout=settings.pool_timeout,
        pool_pre_ping=settings.pool_pre_ping,
    )


@asynccontextmanager
async def open_database(settings: Settings) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    """Create the engine for the application's lifetime and dispose of it on shutdown."""
    engine = create_db_engine(settings)
    try:
        yield async_sessionmaker(engine, expire_on_commit=False)
    finally:
        await engine.dispose()


def get_sessionmaker(request: Request) -> async_sessionmaker[AsyncSession]:
    """The session factory that the application's lifespan opened (tests override this)."""
    return cast(async_sessionmaker[AsyncSession], request.state.sessionmaker)


async def get_session(
    factory: Annotated[async_sessionmaker[AsyncSession], Depends(get_sessionmaker)],
) -> AsyncIterator[AsyncSession]:
    """One session and one transaction per request: commit on success, roll back on error."""
    async with factory.begin() as session:
        yield session


# scope="function" runs the code after `yield` (the commit) as soon as the route returns,
# before the response is sent. The default scope would run it after the response is sent.
SessionDep = Annotated[AsyncSession, Depends(get_session, scope="function")]
