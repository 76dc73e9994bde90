{%- set OWNER = ', owner="alice"' if cookiecutter.auth == "oidc" else "" -%}
"""The session contract: one session per request, committed before the response is sent,
rolled back on any error, always closed, and no connection left checked out. These tests
commit for real (committing_fixtures.py)."""

import gc

import pytest
from clients import client_for
from committing_fixtures import TrackedSession, checked_out, count_items
from database_fixtures import REFUSED_WRITE
from fastapi import FastAPI
from httpx2 import AsyncClient
from sqlalchemy import delete, event, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine
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


async def test_commit_happens_before_the_response_is_sent(
    committing_app: FastAPI, sync_session_class: type[Session]
) -> None:
    events: list[str] = []
    event.listen(sync_session_class, "after_commit", lambda _session: events.append("commit"))

    async def recording_app(scope: Scope, receive: Receive, send: Send) -> None:
        async def recording_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                events.append("response")
            await send(message)

        await committing_app(scope, receive, recording_send)

    async with client_for(recording_app) as client:
        assert (await client.post("/items", json={"title": "Saved"})).status_code == 201

    assert events == ["commit", "response"]


async def test_an_error_after_a_write_rolls_it_back(
    committing_client: AsyncClient, writer: AsyncEngine
) -> None:
    response = await committing_client.post("/fail-after-write")

    assert response.status_code == 500
    assert response.json()["detail"] == "An unexpected error occurred"
    assert await count_items(writer) == 0


async def test_an_error_at_commit_rolls_back_and_is_not_a_success(
    committing_client: AsyncClient, writer: AsyncEngine, sync_session_class: type[Session]
) -> None:
    def fail(_session: Session) -> None:
        raise RuntimeError("failure at commit")

    event.listen(sync_session_class, "before_commit", fail)

    response = await committing_client.post("/items", json={"title": "Never saved"})

    assert response.status_code == 500
    assert await count_items(writer) == 0


@pytest.mark.parametrize(
    "statement",
    [
        "SELECT 1 WHERE 1 = ?",  # a statement the database refuses
        "SELECT * FROM no_such_table",  # as if a migration were missing
        "INSERT INTO items (title) VALUES (NULL)",  # an integrity error, but no conflict
    ],
)
async def test_a_database_error_that_is_a_bug_is_a_500_not_a_503(
    statement: str,
    committing_app: FastAPI,
    committing_client: AsyncClient,
    writer: AsyncEngine,
    reader: AsyncEngine,
) -> None:
    @committing_app.get("/bad-statement")
    async def bad_statement(session: SessionDep) -> None:
        await session.execute(text(statement))

    response = await committing_client.get("/bad-statement")

    assert response.status_code == 500
    assert response.json()["detail"] == "An unexpected error occurred"
    assert checked_out(writer, reader) == 0


async def test_every_session_is_closed_and_every_connection_returned(
    committing_client: AsyncClient,
    sessions_made: list[TrackedSession],
    writer: AsyncEngine,
    reader: AsyncEngine,
) -> None:
    client = committing_client
    item = (await client.post("/items", json={"title": "Kept"})).json()
    statuses = [
        (await client.get(f"/items/{item['id']}")).status_code,
        (await client.get("/items/999")).status_code,
        (await client.post("/items", json={"title": ""})).status_code,
        (await client.post("/fail-after-write")).status_code,
        (await client.delete(f"/items/{item['id']}")).status_code,
        (await client.get("/health/ready")).status_code,
    ]

    assert statuses == [200, 404, 422, 500, 204, 200]
    assert len(sessions_made) == 7
    assert all(session.closed for session in sessions_made)
    assert checked_out(writer, reader) == 0


async def test_a_read_session_refuses_to_write(committing_database: Database) -> None:
    async with committing_database.read_session_factory() as session:
        with pytest.raises(DBAPIError, match=REFUSED_WRITE):
            await session.execute(delete(Item))


async def test_a_route_that_writes_through_a_read_session_fails_in_the_tests_too(
    app: FastAPI, client: AsyncClient
) -> None:
    @app.post("/write-while-reading")
    async def write_while_reading(session: ReadSessionDep) -> None:
        item = ItemCreate(title="written through a read session")
        await repository.create_item(session, item{{ OWNER }})  # type: ignore[arg-type]  # mypy refuses it too

    async with client_for(app) as failing:
        response = await failing.post("/write-while-reading")

    assert response.status_code == 500  # a bug, not an outage: the same on every database
    assert (await client.get("/items")).json()["items"] == []
    assert (await client.post("/items", json={"title": "Still writable"})).status_code == 201


@pytest.mark.parametrize("tune_gc", [True, False], ids=["gc tuned", "gc as it was"])
async def test_the_app_opens_its_own_database_in_its_lifespan(
    own_settings: Settings, writer: AsyncEngine, tune_gc: bool
) -> None:
    app = create_app(own_settings.model_copy(update={"tune_gc": tune_gc}))

    threshold = gc.get_threshold()
    async with app.router.lifespan_context(app), client_for(app) as client:
        created = await client.post("/items", json={"title": "Through the lifespan"})
        assert created.status_code == 201
        # What startup made is out of the collector's way, unless TUNE_GC is off.
        assert (gc.get_freeze_count() > 0) is tune_gc
        assert (await client.delete(f"/items/{created.json()['id']}")).status_code == 204
    assert (gc.get_freeze_count(), gc.get_threshold()) == (0, threshold)  # undone at shutdown


async def test_health_reports_a_database_that_answers(committing_client: AsyncClient) -> None:
    assert (await committing_client.get("/health/ready")).json() == {"status": "ok"}


async def test_health_is_503_when_the_database_does_not_answer(
    settings: Settings, unreachable_settings: Settings
) -> None:
    unreachable = create_db_engine(unreachable_settings)
    database = database_for(unreachable, unreachable)

    async with client_for(create_app(settings, database=database)) as client:
        response = await client.get("/health/ready")

    assert response.status_code == 503
    assert response.json()["detail"] == "The database is not available; try again shortly"
    assert response.headers["retry-after"] == "5"
    await unreachable.dispose()
