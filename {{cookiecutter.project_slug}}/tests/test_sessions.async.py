"""The session contract: one session per request, committed before the response is sent,
rolled back on any error, always closed, and no connection left checked out. These tests
commit for real (committing_fixtures.py)."""

import gc

import pytest
from committing_fixtures import TrackedSession, checked_out, client_for, count_items
from database_fixtures import REFUSED_WRITE
from fastapi import BackgroundTasks, FastAPI
from httpx2 import AsyncClient
from sqlalchemy import delete, event, text
from sqlalchemy.exc import DBAPIError, InvalidRequestError, SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker
from sqlalchemy.orm import Session
from starlette.types import Message, Receive, Scope, Send

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


async def test_a_unit_of_work_outside_a_request_commits_or_rolls_back_and_always_closes(
    committing_database: Database,
    sessions_made: list[TrackedSession],
    writer: AsyncEngine,
    reader: AsyncEngine,
) -> None:
    async def work(title: str, *, fail: bool = False) -> None:  # as a script or a worker does
        async with committing_database.unit_of_work() as session:
            await repository.create_item(session, ItemCreate(title=title))
            if fail:
                raise RuntimeError("the work failed after its write")

    await work("Kept")
    with pytest.raises(RuntimeError):
        await work("Rolled back", fail=True)

    async with committing_database.read_session_factory() as reading:
        items = await repository.list_items(reading, after=0, limit=9)
    assert [item.title for item in items] == ["Kept"]
    assert len(sessions_made) == 3
    assert all(session.closed for session in sessions_made)
    assert checked_out(writer, reader) == 0


async def describe_later(database: Database, item_id: int) -> None:
    """Work for after the response: it is given ids, and opens a unit of work of its own."""
    async with database.unit_of_work() as session:
        description = {"description": "Described after the response"}
        await repository.update_item(session, item_id, description)


async def test_a_background_task_works_in_a_unit_of_work_of_its_own(
    committing_app: FastAPI, committing_client: AsyncClient
) -> None:
    @committing_app.post("/items/{item_id}/describe", status_code=202)
    async def describe(item_id: int, database: DatabaseDep, tasks: BackgroundTasks) -> None:
        tasks.add_task(describe_later, database, item_id)

    item = (await committing_client.post("/items", json={"title": "Described later"})).json()
    assert (await committing_client.post(f"/items/{item['id']}/describe")).status_code == 202

    described = (await committing_client.get(f"/items/{item['id']}")).json()
    assert described["description"] == "Described after the response"


async def test_a_background_task_that_takes_the_request_s_session_fails_loudly(
    committing_app: FastAPI, committing_client: AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    @committing_app.post("/items/{item_id}/describe-wrongly", status_code=202)
    async def describe_wrongly(item_id: int, session: SessionDep, tasks: BackgroundTasks) -> None:
        tasks.add_task(repository.update_item, session, item_id, {"description": "Lost"})

    item = (await committing_client.post("/items", json={"title": "Never described"})).json()
    # By the time the task runs the request's session is closed, for good: it refuses the work,
    # rather than write in a transaction that nobody would commit, and the error is logged.
    response = await committing_client.post(f"/items/{item['id']}/describe-wrongly")

    assert response.status_code == 202
    [logged] = [record.exc_info[1] for record in caplog.records if record.exc_info]
    assert isinstance(logged, InvalidRequestError)
    assert "permanently closed" in str(logged)

    assert (await committing_client.get(f"/items/{item['id']}")).json()["description"] is None


{% if cookiecutter.database == "sqlite" -%}
# aiosqlite makes a coroutine for the query that SQLAlchemy then refuses to wait for: collected
# at the test's end (below), the warning it leaves is this test's, and expected.
@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
{% endif -%}
async def test_what_a_unit_of_work_loaded_stays_loaded_after_its_commit(
    committing_database: Database,
) -> None:
    """The sessions' options keep an AsyncSession from sending a statement on its own, which it
    cannot (MissingGreenlet): what a commit would expire stays loaded. With SQLAlchemy's default
    the commit expires it, and the next read of an attribute is a query that fails."""
    async with committing_database.unit_of_work() as session:
        item = Item(title="Loaded once")
        session.add(item)

    # After the commit and the close, no query: the INSERT's RETURNING brought back the rest.
    assert (item.title, item.description) == ("Loaded once", None)
    assert item.created_at is not None
    expiring = async_sessionmaker(committing_database.session_factory.kw["bind"])
    async with expiring() as session:
        expired = Item(title="Expired at its commit")
        session.add(expired)
        await session.commit()
        with pytest.raises(SQLAlchemyError, match="greenlet_spawn has not been called"):
            _ = expired.title
{%- if cookiecutter.database == "sqlite" %}
    gc.collect()
{%- endif %}


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
        await repository.create_item(session, item)  # type: ignore[arg-type]  # mypy refuses it too

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
