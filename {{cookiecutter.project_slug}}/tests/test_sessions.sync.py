{%- set OWNER = ', owner="alice"' if cookiecutter.auth == "oidc" else "" -%}
"""The session contract: one session per request, committed before the response is sent,
rolled back on any error, always closed, and no connection left checked out. These tests
commit for real (committing_fixtures.py)."""

import gc

import pytest
from clients import client_for, threaded_client
from committing_fixtures import TrackedSession, checked_out, count_items
from database_fixtures import REFUSED_WRITE
from fastapi import FastAPI
from fastapi.testclient import TestClient
from httpx2 import AsyncClient
from sqlalchemy import Engine, delete, event, text
from sqlalchemy.exc import DBAPIError
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

    with threaded_client(recording_app) as client:
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
        repository.create_item(session, item{{ OWNER }})  # type: ignore[arg-type]  # mypy refuses it too

    async with client_for(app) as failing:
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
    with threaded_client(create_app(settings)) as client:
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

    with threaded_client(app) as client:
        response = client.get("/health/ready")

    assert response.status_code == 503
    assert response.json()["detail"] == "The database is not available; try again shortly"
    assert response.headers["retry-after"] == "5"
    unreachable.dispose()
