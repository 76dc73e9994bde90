{%- set OWNER = ', owner="alice"' if cookiecutter.auth == "oidc" else "" -%}
"""Requests cancelled at any moment and many at once: every session closed, every connection
returned, every write answered."""

import asyncio
import threading
from collections import Counter
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import anyio
from clients import client_for, threaded_client
from committing_fixtures import TrackedSession, checked_out, count_items
from fastapi import FastAPI
from fastapi.testclient import TestClient
from httpx2 import ASGITransport, AsyncClient
from sqlalchemy import Engine, event, func, select

from {{ cookiecutter.package_name }} import repository
from {{ cookiecutter.package_name }}.database import ReadSessionDep, SessionDep
from {{ cookiecutter.package_name }}.main import create_app
from {{ cookiecutter.package_name }}.models import Item
from {{ cookiecutter.package_name }}.schemas import ItemCreate
from {{ cookiecutter.package_name }}.settings import Settings


def test_cancelled_requests_close_their_sessions_and_return_their_connections(
    committing_app: FastAPI, sessions_made: list[TrackedSession], writer: Engine, reader: Engine
) -> None:
    started, release = threading.Event(), threading.Event()

    @committing_app.get("/slow")
    def slow(session: ReadSessionDep) -> None:
        session.execute(select(func.count()).select_from(Item))  # holds a connection now
        started.set()
        release.wait(timeout=10)

    @committing_app.post("/slow")
    def slow_write(session: SessionDep) -> None:
        repository.create_item(session, ItemCreate(title="written slowly"){{ OWNER }})
        started.set()
        release.wait(timeout=10)

    async def cancel_midway() -> None:
        transport = ASGITransport(app=committing_app)
        with anyio.fail_after(10):
            await cancel_requests(transport)

    async def cancel_requests(transport: ASGITransport) -> None:
        async with (
            AsyncClient(transport=transport, base_url="http://test") as client,
            anyio.create_task_group() as requests,
        ):
            for _ in range(4):
                requests.start_soon(client.get, "/slow")
            requests.start_soon(client.post, "/slow")
            await anyio.to_thread.run_sync(started.wait)
            requests.cancel_scope.cancel()  # as a server does when its client goes away
            release.set()

    anyio.run(cancel_midway)

    assert len(sessions_made) == 5
    assert all(session.closed for session in sessions_made)
    assert checked_out(writer, reader) == 0
    with threaded_client(committing_app) as client:  # the cancelled write gave up its turn to write
        assert client.post("/items", json={"title": "Next"}).status_code == 201


def test_a_request_cancelled_by_a_cancel_scope_waits_for_its_route_without_spinning(
    committing_app: FastAPI,
) -> None:
    """While a request that a cancel scope cancelled waits for its route's thread, the scope
    must not cancel it again at every turn of the event loop: the loop would spin, and hold up
    every worker thread that needs the interpreter, the route's own among them."""
    started, release = threading.Event(), threading.Event()
    cancels: Counter[asyncio.Task[Any]] = Counter()

    class CountedTask(asyncio.Task[Any]):
        def cancel(self, msg: Any = None) -> bool:
            cancels[self] += 1
            return super().cancel(msg)

    @committing_app.get("/held")
    def held(session: ReadSessionDep) -> None:
        session.execute(select(func.count()).select_from(Item))
        started.set()
        release.wait(timeout=10)

    async def cancel_while_held() -> None:
        transport = ASGITransport(app=committing_app)
        asyncio.get_running_loop().set_task_factory(
            lambda loop, coro, **options: CountedTask(coro, loop=loop, **options)
        )
        async with (
            AsyncClient(transport=transport, base_url="http://test") as client,
            anyio.create_task_group() as requests,
        ):
            requests.start_soon(client.get, "/held")
            await anyio.to_thread.run_sync(started.wait)
            requests.cancel_scope.cancel()
            with anyio.CancelScope(shield=True):
                await anyio.sleep(0.2)  # the loop turns many times while the route holds
            release.set()

    anyio.run(cancel_while_held)

    assert max(cancels.values()) <= 2, sorted(cancels.values())


def test_natively_cancelled_requests_end_their_sessions_only_when_their_routes_are_done(
    committing_app: FastAPI, sessions_made: list[TrackedSession], writer: Engine, reader: Engine
) -> None:
    """asyncio's own cancellation (as `asyncio.timeout` sends) does not wait for a route's thread:
    cancelled so mid-statement, requests still end their sessions only once their routes are
    done (the write rolled back, every session closed, every connection back in its pool)."""
    inside, release = threading.Event(), threading.Event()
    ended_under_their_routes: list[bool] = []  # for each cancelled request's session

    def hold(*_: object) -> None:  # each route waits here, in its thread, mid-statement
        inside.set()
        release.wait(timeout=10)

    async def cancel_natively() -> None:
        async with client_for(committing_app) as client:
            await client.post("/items", json={"title": "First"})
            for engine in (writer, reader):
                event.listen(engine, "before_cursor_execute", hold)
            calls = [client.post("/items", json={"title": "Cancelled"}), client.get("/items")]
            requests = [asyncio.ensure_future(call) for call in calls]
            await anyio.to_thread.run_sync(inside.wait)
            await asyncio.sleep(0.1)  # every route is in its statement now
            for request in requests:
                request.cancel()
            await asyncio.sleep(0.2)  # time for the requests to end their sessions, if they may
            ended_under_their_routes.extend(s.closed for s in sessions_made[1:])
            release.set()
            await asyncio.wait(requests)
            for engine in (writer, reader):
                event.remove(engine, "before_cursor_execute", hold)
            await asyncio.sleep(0.2)  # time for the routes' threads to finish

    anyio.run(cancel_natively)

    assert len(sessions_made) == 3
    assert ended_under_their_routes == [False, False]
    assert all(session.closed for session in sessions_made)
    assert checked_out(writer, reader) == 0
    with threaded_client(committing_app) as client:
        assert client.post("/items", json={"title": "Next"}).status_code == 201
        titles = [item["title"] for item in client.get("/items").json()["items"]]
    assert titles == ["First", "Next"]  # the cancelled write was rolled back


def test_requests_cancelled_at_random_moments_leave_nothing_behind(
    committing_app: FastAPI,
    sessions_made: list[TrackedSession],
    writer: Engine,
    reader: Engine,
    cancel_at_random_moments: Callable[[FastAPI], Awaitable[None]],
) -> None:
    anyio.run(cancel_at_random_moments, committing_app)  # in an event loop of its own

    assert all(session.closed for session in sessions_made)
    assert checked_out(writer, reader) == 0


def test_a_burst_of_concurrent_writes_all_succeed(
    committing_client: TestClient, writer: Engine, reader: Engine
) -> None:
    def create_then_update(n: int) -> tuple[int, int]:
        created = committing_client.post("/items", json={"title": f"Item {n}"})
        changed = {"description": "changed"}
        updated = committing_client.patch(f"/items/{created.json()['id']}", json=changed)
        return created.status_code, updated.status_code

    with ThreadPoolExecutor(max_workers=16) as pool:
        statuses = list(pool.map(create_then_update, range(200)))

    assert statuses == [(201, 200)] * 200
    assert count_items(writer) == 200
    assert checked_out(writer, reader) == 0


def test_routes_in_worker_threads_never_wait_for_a_connection_they_cannot_get(
    own_settings: Settings, writer: Engine
) -> None:
{%- if cookiecutter.database == "postgresql" %}
    # Two connections a pool: eight routes that each hold one for 0.1 s take turns, waiting in
    # the event loop. Were they to wait in worker threads instead, the threads could all be
    # taken by routes waiting for a connection, and none would come free for POOL_TIMEOUT.
    own_settings = own_settings.model_copy(update={"pool_size": 2, "pool_timeout": 5})
{%- endif %}
    app = create_app(own_settings)

    @app.get("/hold")
    def hold(session: ReadSessionDep) -> None:
        session.execute(select(func.count()).select_from(Item))  # holds a connection now
        threading.Event().wait(0.1)

    with threaded_client(app) as client, ThreadPoolExecutor(max_workers=8) as pool:
        holds = list(pool.map(lambda _: client.get("/hold").status_code, range(8)))
        writes = list(pool.map(lambda n: client.post("/items", json={"title": f"{n}"}), range(8)))

    assert holds == [200] * 8
    assert [response.status_code for response in writes] == [201] * 8
