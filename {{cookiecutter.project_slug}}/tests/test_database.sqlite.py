"""The session contract: one session per request, committed before the response is sent,
rolled back on any error, always closed, and no connection left checked out.

These tests commit for real, to a database file of their own, and watch its connection pool.
"""

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
from sqlalchemy import Engine, event, func, select, text
from sqlalchemy.orm import Session, sessionmaker
from starlette.types import Message, Receive, Scope, Send

from {{ cookiecutter.package_name }} import repository
from {{ cookiecutter.package_name }}.database import SessionDep, create_db_engine, get_sessionmaker
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
def engine(
    contract_settings: Settings, make_engine: Callable[[Settings], Engine]
) -> Iterator[Engine]:
    engine = make_engine(contract_settings)
    yield engine
    engine.dispose()


@pytest.fixture
def sessions(engine: Engine) -> sessionmaker[Session]:
    TrackedSession.made.clear()
    return sessionmaker(engine, class_=TrackedSession, expire_on_commit=False)


@pytest.fixture
def app(settings: Settings, sessions: sessionmaker[Session]) -> FastAPI:
    app = create_app(settings)
    app.dependency_overrides[get_sessionmaker] = lambda: sessions

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


def test_commit_happens_before_the_response_is_sent(
    app: FastAPI, sessions: sessionmaker[Session]
) -> None:
    events: list[str] = []
    event.listen(sessions, "after_commit", lambda _session: events.append("commit"))

    async def recording_app(scope: Scope, receive: Receive, send: Send) -> None:
        async def recording_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                events.append("response")
            await send(message)

        await app(scope, receive, recording_send)

    with TestClient(recording_app) as client:
        assert client.post("/items", json={"title": "Saved"}).status_code == 201

    assert events == ["commit", "response"]


def test_an_error_after_a_write_rolls_it_back(client: TestClient, engine: Engine) -> None:
    response = client.post("/fail-after-write")

    assert response.status_code == 500
    assert response.json()["detail"] == "An unexpected error occurred"
    assert count_items(engine) == 0


def test_an_error_at_commit_rolls_back_and_is_not_a_success(
    client: TestClient, engine: Engine, sessions: sessionmaker[Session]
) -> None:
    def fail(_session: Session) -> None:
        raise RuntimeError("failure at commit")

    event.listen(sessions, "before_commit", fail)

    response = client.post("/items", json={"title": "Never saved"})

    assert response.status_code == 500
    assert count_items(engine) == 0


def test_a_database_error_that_is_a_bug_is_a_500_not_a_503(app: FastAPI, engine: Engine) -> None:
    @app.get("/bad-statement")
    def bad_statement(session: SessionDep) -> None:
        session.execute(text("SELECT 1 WHERE 1 = ?"))  # a parameter that is never given

    with TestClient(app, raise_server_exceptions=False) as client:
        response = client.get("/bad-statement")

    assert response.status_code == 500
    assert response.json()["detail"] == "An unexpected error occurred"
    assert engine.pool.checkedout() == 0  # type: ignore[attr-defined]


def test_every_session_is_closed_and_every_connection_returned(
    client: TestClient, engine: Engine
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
    assert engine.pool.checkedout() == 0  # type: ignore[attr-defined]


def test_each_connection_enforces_foreign_keys_and_uses_wal(engine: Engine) -> None:
    with engine.connect() as connection:
        assert connection.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
        assert connection.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"


def test_the_app_opens_its_own_database_in_its_lifespan(
    contract_settings: Settings, engine: Engine
) -> None:
    with TestClient(create_app(contract_settings)) as client:
        created = client.post("/items", json={"title": "Through the lifespan"})
        assert created.status_code == 201
        assert client.delete(f"/items/{created.json()['id']}").status_code == 204


def test_health_reports_a_database_that_answers(client: TestClient) -> None:
    assert client.get("/health").json() == {"status": "ok", "database": "ok"}


def test_health_is_503_when_the_database_does_not_answer(
    app: FastAPI, settings: Settings, tmp_path: Path
) -> None:
    unreachable = create_db_engine(
        Settings(database_url=f"sqlite:///{tmp_path / 'no-such-dir' / 'x.db'}")
    )
    app.dependency_overrides[get_sessionmaker] = lambda: sessionmaker(unreachable)

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
    app: FastAPI, engine: Engine
) -> None:
    started, release = threading.Event(), threading.Event()

    @app.get("/slow")
    def slow(session: SessionDep) -> None:
        session.execute(select(func.count()).select_from(Item))  # holds a connection now
        started.set()
        release.wait(timeout=10)

    async def cancel_midway() -> None:
        transport = ASGITransport(app=app)
        async with (
            AsyncClient(transport=transport, base_url="http://test") as client,
            anyio.create_task_group() as requests,
        ):
            for _ in range(5):
                requests.start_soon(client.get, "/slow")
            await anyio.to_thread.run_sync(started.wait)
            requests.cancel_scope.cancel()  # as a server does when its client goes away
            release.set()

    anyio.run(cancel_midway)

    assert len(TrackedSession.made) == 5
    assert all(session.closed for session in TrackedSession.made)
    assert engine.pool.checkedout() == 0  # type: ignore[attr-defined]


def test_concurrent_writes_do_not_fail_with_database_is_locked(
    client: TestClient, engine: Engine
) -> None:
    def create_then_update(n: int) -> tuple[int, int]:
        created = client.post("/items", json={"title": f"Item {n}"})
        updated = client.patch(f"/items/{created.json()['id']}", json={"description": "changed"})
        return created.status_code, updated.status_code

    with ThreadPoolExecutor(max_workers=16) as pool:
        statuses = list(pool.map(create_then_update, range(200)))

    assert statuses == [(201, 200)] * 200
    assert count_items(engine) == 200
    assert engine.pool.checkedout() == 0  # type: ignore[attr-defined]
