"""The session contract: one session per request, committed before the response is sent,
rolled back on any error, always closed, and no connection left checked out.

These tests commit for real, to a database file of their own, and watch its connection pools.
"""

import gc
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, ClassVar

import anyio
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from httpx2 import ASGITransport, AsyncClient
from sqlalchemy import Engine, delete, event, func, select, text
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session
from starlette.types import Message, Receive, Scope, Send

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
from {{ cookiecutter.package_name }}.settings import Settings


class TrackedSession(Session):
    """A session that remembers every instance made, and whether it was closed."""

    made: ClassVar[list["TrackedSession"]] = []

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.closed = False
        TrackedSession.made.append(self)

    def close(self) -> None:
        super().close()
        self.closed = True


@pytest.fixture
def contract_settings(tmp_path: Path) -> Settings:
    return Settings(database_url=f"sqlite:///{tmp_path / 'contract.db'}")


@pytest.fixture
def writer(
    contract_settings: Settings, make_engine: Callable[[Settings], Engine]
) -> Iterator[Engine]:
    engine = make_engine(contract_settings)
    yield engine
    engine.dispose()


@pytest.fixture
def reader(contract_settings: Settings, writer: Engine) -> Iterator[Engine]:
    engine = create_db_engine(contract_settings, read_only=True)
    yield engine
    engine.dispose()


@pytest.fixture
def statements(writer: Engine, reader: Engine) -> list[str]:
    """Every statement the database receives, as sqlite3 sends it: BEGIN and COMMIT too."""
    sent: list[str] = []

    def trace(connection: Any, _record: Any) -> None:
        connection.set_trace_callback(sent.append)

    for engine in (writer, reader):
        engine.dispose()  # the next connections are new ones, traced from the start
        event.listen(engine, "connect", trace)
    return sent


@pytest.fixture
def database(writer: Engine, reader: Engine) -> Database:
    TrackedSession.made.clear()
    return database_for(writer, reader, class_=TrackedSession)


@pytest.fixture
def app(settings: Settings, database: Database) -> FastAPI:
    app = create_app(settings, database=database)

    @app.post("/fail-after-write")
    def fail_after_write(session: SessionDep) -> None:
        repository.create_item(session, ItemCreate(title="written, then failed"))
        raise RuntimeError("failure after the write")

    return app


@pytest.fixture
def client(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app, raise_server_exceptions=False) as client:
        yield client


def count_items(engine: Engine) -> int:
    with engine.connect() as connection:
        return connection.scalar(select(func.count()).select_from(Item)) or 0


def checked_out(*engines: Engine) -> int:
    return sum(engine.pool.checkedout() for engine in engines)  # type: ignore[attr-defined]


def test_commit_happens_before_the_response_is_sent(app: FastAPI, database: Database) -> None:
    events: list[str] = []
    event.listen(database.sessions, "after_commit", lambda _session: events.append("commit"))

    async def recording_app(scope: Scope, receive: Receive, send: Send) -> None:
        async def recording_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                events.append("response")
            await send(message)

        await app(scope, receive, recording_send)

    with TestClient(recording_app) as client:
        assert client.post("/items", json={"title": "Saved"}).status_code == 201

    assert events == ["commit", "response"]


def test_an_error_after_a_write_rolls_it_back(client: TestClient, writer: Engine) -> None:
    response = client.post("/fail-after-write")

    assert response.status_code == 500
    assert response.json()["detail"] == "An unexpected error occurred"
    assert count_items(writer) == 0


def test_an_error_at_commit_rolls_back_and_is_not_a_success(
    client: TestClient, writer: Engine, database: Database
) -> None:
    def fail(_session: Session) -> None:
        raise RuntimeError("failure at commit")

    event.listen(database.sessions, "before_commit", fail)

    response = client.post("/items", json={"title": "Never saved"})

    assert response.status_code == 500
    assert count_items(writer) == 0


def test_a_database_error_that_is_a_bug_is_a_500_not_a_503(
    app: FastAPI, writer: Engine, reader: Engine
) -> None:
    @app.get("/bad-statement")
    def bad_statement(session: SessionDep) -> None:
        session.execute(text("SELECT 1 WHERE 1 = ?"))  # a parameter that is never given

    with TestClient(app, raise_server_exceptions=False) as client:
        response = client.get("/bad-statement")

    assert response.status_code == 500
    assert response.json()["detail"] == "An unexpected error occurred"
    assert checked_out(writer, reader) == 0


def test_every_session_is_closed_and_every_connection_returned(
    client: TestClient, writer: Engine, reader: Engine
) -> None:
    item = client.post("/items", json={"title": "Kept"}).json()
    statuses = [
        client.get(f"/items/{item['id']}").status_code,
        client.get("/items/999").status_code,
        client.post("/items", json={"title": ""}).status_code,
        client.post("/fail-after-write").status_code,
        client.delete(f"/items/{item['id']}").status_code,
        client.get("/health").status_code,
    ]

    assert statuses == [200, 404, 422, 500, 204, 200]
    assert len(TrackedSession.made) == 7
    assert all(session.closed for session in TrackedSession.made)
    assert checked_out(writer, reader) == 0


def test_a_read_is_one_statement_and_a_write_takes_the_lock_first(
    client: TestClient, statements: list[str]
) -> None:
    item = client.post("/items", json={"title": "Counted"}).json()
    written = list(statements)
    statements.clear()

    assert client.get(f"/items/{item['id']}").status_code == 200
    assert client.get("/items").json()["total"] == 1

    assert [statement.split()[0] for statement in written] == ["BEGIN", "INSERT", "COMMIT"]
    assert written[0] == "BEGIN IMMEDIATE"
    # An item is one SELECT; a page is two, the page and the count.
    assert [statement.split()[0] for statement in statements] == ["SELECT"] * 3


def test_a_read_session_refuses_to_write(reader: Engine) -> None:
    with Session(reader) as session, pytest.raises(OperationalError, match="readonly"):
        session.execute(delete(Item))


def test_each_connection_enforces_foreign_keys_and_uses_wal(writer: Engine) -> None:
    with writer.connect() as connection:
        assert connection.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
        assert connection.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"


def test_the_app_opens_its_own_database_in_its_lifespan(
    contract_settings: Settings, writer: Engine
) -> None:
    threshold = gc.get_threshold()
    with TestClient(create_app(contract_settings)) as client:
        created = client.post("/items", json={"title": "Through the lifespan"})
        assert created.status_code == 201
        assert gc.get_freeze_count() > 0  # what startup made is out of the collector's way
        assert client.get(f"/items/{created.json()['id']}").status_code == 200
        assert client.delete(f"/items/{created.json()['id']}").status_code == 204
    assert (gc.get_freeze_count(), gc.get_threshold()) == (0, threshold)  # undone at shutdown


def test_health_reports_a_database_that_answers(client: TestClient) -> None:
    assert client.get("/health").json() == {"status": "ok", "database": "ok"}


def test_health_is_503_when_the_database_does_not_answer(
    settings: Settings, tmp_path: Path
) -> None:
    url = f"sqlite:///{tmp_path / 'no-such-dir' / 'x.db'}"
    unreachable = create_db_engine(Settings(database_url=url))
    app = create_app(settings, database=database_for(unreachable, unreachable))

    with TestClient(app) as client:
        response = client.get("/health")

    assert response.status_code == 503
    assert response.json()["detail"] == "The database is not available; try again shortly"
    unreachable.dispose()


@pytest.mark.parametrize("url", ["postgresql://user:secret@db/app", "app.db"])
def test_settings_refuse_a_database_url_of_another_kind(url: str) -> None:
    with pytest.raises(ValueError, match="expected a URL like sqlite:///") as error:
        Settings(database_url=url)
    assert "secret" not in str(error.value)


def test_cancelled_requests_close_their_sessions_and_return_their_connections(
    app: FastAPI, writer: Engine, reader: Engine
) -> None:
    started, release = threading.Event(), threading.Event()

    @app.get("/slow")
    def slow(session: ReadSessionDep) -> None:
        session.execute(select(func.count()).select_from(Item))  # holds a connection now
        started.set()
        release.wait(timeout=10)

    @app.post("/slow")
    def slow_write(session: SessionDep) -> None:
        repository.create_item(session, ItemCreate(title="written slowly"))
        started.set()
        release.wait(timeout=10)

    async def cancel_midway() -> None:
        transport = ASGITransport(app=app)
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

    assert len(TrackedSession.made) == 5
    assert all(session.closed for session in TrackedSession.made)
    assert checked_out(writer, reader) == 0
    with TestClient(app) as client:  # the cancelled write gave up its turn to write
        assert client.post("/items", json={"title": "Next"}).status_code == 201


def test_concurrent_writes_do_not_fail_with_database_is_locked(
    client: TestClient, writer: Engine, reader: Engine
) -> None:
    def create_then_update(n: int) -> tuple[int, int]:
        created = client.post("/items", json={"title": f"Item {n}"})
        updated = client.patch(f"/items/{created.json()['id']}", json={"description": "changed"})
        return created.status_code, updated.status_code

    with ThreadPoolExecutor(max_workers=16) as pool:
        statuses = list(pool.map(create_then_update, range(200)))

    assert statuses == [(201, 200)] * 200
    assert count_items(writer) == 200
    assert checked_out(writer, reader) == 0
