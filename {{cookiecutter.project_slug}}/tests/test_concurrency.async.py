"""Requests cancelled at any moment and many at once: every session closed, every connection
returned, every write answered."""

import asyncio
from collections.abc import Awaitable, Callable

import anyio
from clients import client_for
from committing_fixtures import TrackedSession, checked_out, count_items
from fastapi import FastAPI
from httpx2 import AsyncClient
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from {{ cookiecutter.package_name }}.database import ReadSessionDep, SessionDep


async def test_a_burst_of_concurrent_writes_all_succeed_each_in_a_session_of_its_own(
    committing_client: AsyncClient,
    sessions_made: list[TrackedSession],
    writer: AsyncEngine,
    reader: AsyncEngine,
) -> None:
    async def create_then_update(n: int) -> tuple[int, int]:
        created = await committing_client.post("/items", json={"title": f"Item {n}"})
        changed = {"description": "changed"}
        updated = await committing_client.patch(f"/items/{created.json()['id']}", json=changed)
        return created.status_code, updated.status_code

    statuses = await asyncio.gather(*(create_then_update(n) for n in range(100)))

    assert statuses == [(201, 200)] * 100
    assert len({id(session) for session in sessions_made}) == 200
    assert all(session.closed for session in sessions_made)
    assert await count_items(writer) == 100
    assert checked_out(writer, reader) == 0


async def test_cancelled_requests_close_their_sessions_and_return_their_connections(
    committing_app: FastAPI,
    sessions_made: list[TrackedSession],
    writer: AsyncEngine,
    reader: AsyncEngine,
    slow_query: str,
) -> None:
    @committing_app.get("/slow")
    async def slow(session: ReadSessionDep) -> None:
        await session.execute(text(slow_query))

    @committing_app.post("/slow")
    async def slow_write(session: SessionDep) -> None:
        await session.execute(text(slow_query))

    async with client_for(committing_app) as client, anyio.create_task_group() as requests:
        for _ in range(4):
            requests.start_soon(client.get, "/slow")
        requests.start_soon(client.post, "/slow")
        await asyncio.sleep(0.3)  # the queries are running
        requests.cancel_scope.cancel()  # as a server does when its client goes away

    assert len(sessions_made) == 5
    assert all(session.closed for session in sessions_made)
    assert checked_out(writer, reader) == 0
    # Nothing is left waiting to close their connections.
    if closing := asyncio.all_tasks() - {asyncio.current_task()}:
        _, still_closing = await asyncio.wait(closing, timeout=5)
        assert not still_closing
{%- if cookiecutter.database == "sqlite" %}
    async with client_for(committing_app) as client:  # the cancelled write gave up its turn
        assert (await client.post("/items", json={"title": "Next"})).status_code == 201
{%- else %}
    # The pool closes the cancelled connections: once the server has finished their queries,
    # it has none of them left.
    sleeping = text("SELECT count(*) FROM pg_stat_activity WHERE query = :slow_query")
    with anyio.fail_after(5):
        while True:
            async with writer.connect() as connection:  # a new snapshot of the server's state
                if not await connection.scalar(sleeping, {"slow_query": slow_query}):
                    break
            await asyncio.sleep(0.1)
{%- endif %}


async def test_requests_cancelled_at_random_moments_leave_nothing_behind(
    committing_app: FastAPI,
    sessions_made: list[TrackedSession],
    writer: AsyncEngine,
    reader: AsyncEngine,
    cancel_at_random_moments: Callable[[FastAPI], Awaitable[None]],
) -> None:
    await cancel_at_random_moments(committing_app)

    assert all(session.closed for session in sessions_made)
    assert checked_out(writer, reader) == 0
