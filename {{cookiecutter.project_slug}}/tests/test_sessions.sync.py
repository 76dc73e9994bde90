"""The session contract: one session per request, committed before the response is sent,
rolled back on any error, always closed, and no connection left checked out.

These tests commit for real, to a database of their own, through the production engines, and
watch their connection pools.
"""

import asyncio
import gc
import threading
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import anyio
import pytest
from database_fixtures import REFUSED_WRITE, MakeSettings
from fastapi import BackgroundTasks, FastAPI
from fastapi.testclient import TestClient
from httpx2 import ASGITransport, AsyncClient
from sqlalchemy import Engine, delete, event, func, select, text
from sqlalchemy.exc import DBAPIError, InvalidRequestError
from sqlalchemy.orm import Session
from starlette.types import Message, Receive, Scope, Send
from statement_budgets import MADE_FIRST, STATEMENT_BUDGETS{% if cookiecutter.database == "postgresql" %}, as_a_read_session_sends{% endif %}

from {{ cookiecutter.package_name }} import repository
from {{ cookiecutter.package_name }}.database import (
    Database,
    DatabaseDep,
    ReadSessionDep,
    SessionDep,
    create_db_engine,
    database_for,
)
from {{ cookiecutter.package_name }}.main import create_app
from {{ cookiecutter.package_name }}.models import Item
from {{ cookiecutter.package_name }}.schemas import ItemCreate
from {{ cookiecutter.package_name }}.settings import Settings


class TrackedSession(Session):
    """A session that adds itself to the list in its `info`, and knows if it was closed."""

    closed = False

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.info["made"].append(self)

    def close(self) -> None:
        super().close()
        self.closed = True


@pytest.fixture
def own_settings(make_settings: MakeSettings) -> Settings:
    """Settings for a database of the test's own."""
    return make_settings()


@pytest.fixture
def writer(own_settings: Settings, migrate: Callable[[Engine], None]) -> Iterator[Engine]:
    """The engine of the requests that write."""
    engine = create_db_engine(own_settings)
    migrate(engine)
    engine.dispose()  # from here on, every connection is a new one
    yield engine
    engine.dispose()


@pytest.fixture
def reader(own_settings: Settings, writer: Engine) -> Iterator[Engine]:
    """The engine of the requests that only read."""
    engine = create_db_engine(own_settings, read_only=True)
    yield engine
    engine.dispose()


@pytest.fixture
def sessions_made() -> list[TrackedSession]:
    """Every session the committing app makes, in order."""
    return []


@pytest.fixture
def committing_database(
    writer: Engine, reader: Engine, sessions_made: list[TrackedSession]
) -> Database:
    return database_for(writer, reader, class_=TrackedSession, info={"made": sessions_made})


@pytest.fixture
def committing_app(settings: Settings, committing_database: Database) -> FastAPI:
    """The application on the production engines, with a route that fails after a write."""
    app = create_app(settings, database=committing_database)

    @app.post("/fail-after-write")
    def fail_after_write(session: SessionDep) -> None:
        repository.create_item(session, ItemCreate(title="written, then failed"))
        raise RuntimeError("failure after the write")

    return app


@pytest.fixture
def committing_client(committing_app: FastAPI) -> Iterator[TestClient]:
    with TestClient(committing_app, raise_server_exceptions=False) as client:
        yield client


def count_items(engine: Engine) -> int:
    with engine.connect() as connection:
        return connection.scalar(select(func.count()).select_from(Item)) or 0


def checked_out(*engines: Engine) -> int:
    return sum(engine.pool.checkedout() for engine in engines)  # type: ignore[attr-defined]


def test_commit_happens_before_the_response_is_sent(
    committing_app: FastAPI, committing_database: Database
) -> None:
    events: list[str] = []
    factory = committing_database.session_factory
    event.listen(factory, "after_commit", lambda _session: events.append("commit"))

    async def recording_app(scope: Scope, receive: Receive, send: Send) -> None:
        async def recording_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                events.append("response")
            await send(message)

        await committing_app(scope, receive, recording_send)

    with TestClient(recording_app) as client:
        assert client.post("/items", json={"title": "Saved"}).status_code == 201

    assert events == ["commit", "response"]


def test_an_error_after_a_write_rolls_it_back(
    committing_client: TestClient, writer: Engine
) -> None:
    response = committing_client.post("/fail-after-write")

    assert response.status_code == 500
    assert response.json()["detail"] == "An unexpected error occurred"
    assert count_items(writer) == 0


def test_an_error_at_commit_rolls_back_and_is_not_a_success(
    committing_client: TestClient, writer: Engine, committing_database: Database
) -> None:
    def fail(_session: Session) -> None:
        raise RuntimeError("failure at commit")

    event.listen(committing_database.session_factory, "before_commit", fail)

    response = committing_client.post("/items", json={"title": "Never saved"})

    assert response.status_code == 500
    assert count_items(writer) == 0


@pytest.mark.parametrize(
    "statement",
    [
        "SELECT 1 WHERE 1 = ?",  # a statement the database refuses
        "SELECT * FROM no_such_table",  # as if a migration were missing
        "INSERT INTO items (title) VALUES (NULL)",  # an integrity error, but no conflict
    ],
)
def test_a_database_error_that_is_a_bug_is_a_500_not_a_503(
    statement: str,
    committing_app: FastAPI,
    committing_client: TestClient,
    writer: Engine,
    reader: Engine,
) -> None:
    @committing_app.get("/bad-statement")
    def bad_statement(session: SessionDep) -> None:
        session.execute(text(statement))

    response = committing_client.get("/bad-statement")

    assert response.status_code == 500
    assert response.json()["detail"] == "An unexpected error occurred"
    assert checked_out(writer, reader) == 0


def test_every_session_is_closed_and_every_connection_returned(
    committing_client: TestClient,
    sessions_made: list[TrackedSession],
    writer: Engine,
    reader: Engine,
) -> None:
    client = committing_client
    item = client.post("/items", json={"title": "Kept"}).json()
    statuses = [
        client.get(f"/items/{item['id']}").status_code,
        client.get("/items/999").status_code,
        client.post("/items", json={"title": ""}).status_code,
        client.post("/fail-after-write").status_code,
        client.delete(f"/items/{item['id']}").status_code,
        client.get("/health/ready").status_code,
    ]

    assert statuses == [200, 404, 422, 500, 204, 200]
    assert len(sessions_made) == 7
    assert all(session.closed for session in sessions_made)
    assert checked_out(writer, reader) == 0


def test_a_unit_of_work_outside_a_request_commits_or_rolls_back_and_always_closes(
    committing_database: Database,
    sessions_made: list[TrackedSession],
    writer: Engine,
    reader: Engine,
) -> None:
    def work(title: str, *, fail: bool = False) -> None:  # as a script or a worker does
        with committing_database.unit_of_work() as session:
            repository.create_item(session, ItemCreate(title=title))
            if fail:
                raise RuntimeError("the work failed after its write")

    work("Kept")
    with pytest.raises(RuntimeError):
        work("Rolled back", fail=True)

    with committing_database.read_session_factory() as reading:
        items = repository.list_items(reading, after=0, limit=9)
    assert [item.title for item in items] == ["Kept"]
    assert len(sessions_made) == 3
    assert all(session.closed for session in sessions_made)
    assert checked_out(writer, reader) == 0


def describe_later(database: Database, item_id: int) -> None:
    """Work for after the response: it is given ids, and opens a unit of work of its own."""
    with database.unit_of_work() as session:
        repository.update_item(session, item_id, {"description": "Described after the response"})


def test_a_background_task_works_in_a_unit_of_work_of_its_own(
    committing_app: FastAPI, committing_client: TestClient
) -> None:
    @committing_app.post("/items/{item_id}/describe", status_code=202)
    def describe(item_id: int, database: DatabaseDep, tasks: BackgroundTasks) -> None:
        tasks.add_task(describe_later, database, item_id)

    item = committing_client.post("/items", json={"title": "Described later"}).json()
    assert committing_client.post(f"/items/{item['id']}/describe").status_code == 202

    described = committing_client.get(f"/items/{item['id']}").json()
    assert described["description"] == "Described after the response"


def test_a_background_task_that_takes_the_request_s_session_fails_loudly(
    committing_app: FastAPI, committing_client: TestClient, caplog: pytest.LogCaptureFixture
) -> None:
    @committing_app.post("/items/{item_id}/describe-wrongly", status_code=202)
    def describe_wrongly(item_id: int, session: SessionDep, tasks: BackgroundTasks) -> None:
        tasks.add_task(repository.update_item, session, item_id, {"description": "Lost"})

    item = committing_client.post("/items", json={"title": "Never described"}).json()
    # By the time the task runs the request's session is closed, for good: it refuses the work,
    # rather than write in a transaction that nobody would commit, and the error is logged.
    response = committing_client.post(f"/items/{item['id']}/describe-wrongly")

    assert response.status_code == 202
    [logged] = [record.exc_info[1] for record in caplog.records if record.exc_info]
    assert isinstance(logged, InvalidRequestError)
    assert "permanently closed" in str(logged)
    assert committing_client.get(f"/items/{item['id']}").json()["description"] is None


def test_a_read_is_one_statement_and_a_write_one_inside_its_transaction(
{%- if cookiecutter.database == "postgresql" %}
    committing_client: TestClient,
    statements: Callable[[], dict[str, list[str]]],
    own_settings: Settings,
{%- else %}
    committing_client: TestClient, statements: Callable[[], dict[str, list[str]]]
{%- endif %}
) -> None:
    item = committing_client.post("/items", json={"title": "Counted"}).json()
    assert committing_client.get(f"/items/{item['id']}").status_code == 200
    assert committing_client.get("/items").json()["items"][0]["title"] == "Counted"

    sent = statements()
    assert [statement.split()[0] for statement in sent["writer"]] == ["BEGIN", "INSERT", "COMMIT"]
{%- if cookiecutter.database == "sqlite" %}
    assert sent["writer"][0] == "BEGIN IMMEDIATE"  # the write lock, taken as it begins
{%- endif %}
{%- if cookiecutter.database == "postgresql" %}
    # An item is one SELECT, with no BEGIN or COMMIT (unless behind a transaction-mode pooler);
    # so is a page (no count unless asked).
    read = as_a_read_session_sends(["SELECT"], own_settings)
    assert [statement.split()[0] for statement in sent["reader"]] == read * 2
{%- else %}
    # An item is one SELECT, with no BEGIN or COMMIT; so is a page (no count unless asked).
    assert [statement.split()[0] for statement in sent["reader"]] == ["SELECT"] * 2
{%- endif %}


def test_every_endpoint_has_a_statement_budget(settings: Settings) -> None:
    paths = create_app(settings).openapi()["paths"]  # the app opens no database until it starts
    endpoints = {f"{method.upper()} {path}" for path in paths for method in paths[path]}

    assert endpoints == {endpoint.partition("?")[0] for endpoint in STATEMENT_BUDGETS}


@pytest.mark.parametrize("endpoint", STATEMENT_BUDGETS)
def test_each_endpoint_keeps_to_its_statement_budget(
    committing_client: TestClient,
    statements: Callable[[], dict[str, list[str]]],
    endpoint: str,
{%- if cookiecutter.database == "postgresql" %}
    own_settings: Settings,
{%- endif %}
) -> None:
    body, writes, reads = STATEMENT_BUDGETS[endpoint]
{%- if cookiecutter.database == "postgresql" %}
    reads = as_a_read_session_sends(reads, own_settings)
{%- endif %}
    method, path = endpoint.split(" ")
    made: dict[str, int] = {}
    for name, (at, made_by) in MADE_FIRST.items():
        for _ in range(2):
            made[name] = committing_client.post(at, json=made_by).json()["id"]
    before = statements()

    response = committing_client.request(method, path.format(**made), json=body)

    assert response.status_code < 300, response.text
    sent = {engine: after[len(before[engine]) :] for engine, after in statements().items()}
    kinds = {engine: [statement.split()[0] for statement in sent[engine]] for engine in sent}
    listed = "\n".join(f"  {engine}: {statement}" for engine in sent for statement in sent[engine])
    assert kinds == {"writer": writes, "reader": reads}, f"{endpoint} sent:\n{listed}"


def test_a_read_session_refuses_to_write(committing_database: Database) -> None:
    with (
        committing_database.read_session_factory() as session,
        pytest.raises(DBAPIError, match=REFUSED_WRITE),
    ):
        session.execute(delete(Item))


async def test_a_route_that_writes_through_a_read_session_fails_in_the_tests_too(
    app: FastAPI, client: AsyncClient
) -> None:
    @app.post("/write-while-reading")
    def write_while_reading(session: ReadSessionDep) -> None:
        item = ItemCreate(title="written through a read session")
        repository.create_item(session, item)  # type: ignore[arg-type]  # mypy refuses it too

    transport = ASGITransport(app=app, raise_app_exceptions=False)
    async with AsyncClient(transport=transport, base_url="http://test") as failing:
        response = await failing.post("/write-while-reading")

    assert response.status_code == 500  # a bug, not an outage: the same on every database
    assert (await client.get("/items")).json()["items"] == []
    assert (await client.post("/items", json={"title": "Still writable"})).status_code == 201


@pytest.mark.parametrize("tune_gc", [True, False], ids=["gc tuned", "gc as it was"])
def test_the_app_opens_its_own_database_in_its_lifespan(
    own_settings: Settings, writer: Engine, tune_gc: bool
) -> None:
    settings = own_settings.model_copy(update={"tune_gc": tune_gc})
    threshold = gc.get_threshold()
    with TestClient(create_app(settings)) as client:
        created = client.post("/items", json={"title": "Through the lifespan"})
        assert created.status_code == 201
        # What startup made is out of the collector's way, unless TUNE_GC is off.
        assert (gc.get_freeze_count() > 0) is tune_gc
        assert client.get(f"/items/{created.json()['id']}").status_code == 200
        assert client.delete(f"/items/{created.json()['id']}").status_code == 204
    assert (gc.get_freeze_count(), gc.get_threshold()) == (0, threshold)  # undone at shutdown


def test_health_reports_a_database_that_answers(committing_client: TestClient) -> None:
    assert committing_client.get("/health/ready").json() == {"status": "ok"}


def test_health_is_503_when_the_database_does_not_answer(
    settings: Settings, unreachable_settings: Settings
) -> None:
    unreachable = create_db_engine(unreachable_settings)
    app = create_app(settings, database=database_for(unreachable, unreachable))

    with TestClient(app) as client:
        response = client.get("/health/ready")

    assert response.status_code == 503
    assert response.json()["detail"] == "The database is not available; try again shortly"
    assert response.headers["retry-after"] == "5"
    unreachable.dispose()


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
        repository.create_item(session, ItemCreate(title="written slowly"))
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
    with TestClient(committing_app) as client:  # the cancelled write gave up its turn to write
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
    """asyncio's own cancellation (`Task.cancel()`, as `asyncio.timeout` sends) does not wait
    for a route's thread, as AnyIO's does. Cancelled so, while their routes are in the middle
    of a statement, the requests must still end their sessions only once the routes are done
    with them: the write rolled back, every session closed, every connection back in its
    pool."""
    inside, release = threading.Event(), threading.Event()
    ended_under_their_routes: list[bool] = []  # for each cancelled request's session

    def hold(*_: object) -> None:  # each route waits here, in its thread, mid-statement
        inside.set()
        release.wait(timeout=10)

    async def cancel_natively() -> None:
        transport = ASGITransport(app=committing_app)
        async with AsyncClient(transport=transport, base_url="http://test") as client:
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
    with TestClient(committing_app) as client:
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

    with TestClient(app) as client, ThreadPoolExecutor(max_workers=8) as pool:
        holds = list(pool.map(lambda _: client.get("/hold").status_code, range(8)))
        writes = list(pool.map(lambda n: client.post("/items", json={"title": f"{n}"}), range(8)))

    assert holds == [200] * 8
    assert [response.status_code for response in writes] == [201] * 8
