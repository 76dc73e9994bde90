{%- set OWNER = ', owner="alice"' if cookiecutter.auth == "oidc" else "" -%}
"""Units of work outside a request: a script's or a worker's, a background task's (which never
gets the request's session), and what a unit of work loaded, after its commit. These tests
commit for real (committing_fixtures.py)."""
{% if cookiecutter.database == "sqlite" %}
import gc

import anyio
{%- endif %}
import pytest
from committing_fixtures import TrackedSession, checked_out
from fastapi import BackgroundTasks, FastAPI
from httpx2 import AsyncClient
from sqlalchemy.exc import InvalidRequestError, SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker

from {{ cookiecutter.package_name }} import repository
from {{ cookiecutter.package_name }}.database import Database, DatabaseDep, SessionDep
from {{ cookiecutter.package_name }}.models import Item
from {{ cookiecutter.package_name }}.schemas import ItemCreate


async def test_a_unit_of_work_outside_a_request_commits_or_rolls_back_and_always_closes(
    committing_database: Database,
    sessions_made: list[TrackedSession],
    writer: AsyncEngine,
    reader: AsyncEngine,
) -> None:
    async def work(title: str, *, fail: bool = False) -> None:  # as a script or a worker does
        async with committing_database.unit_of_work() as session:
            await repository.create_item(session, ItemCreate(title=title){{ OWNER }})
            if fail:
                raise RuntimeError("the work failed after its write")

    await work("Kept")
    with pytest.raises(RuntimeError):
        await work("Rolled back", fail=True)

    async with committing_database.read_session_factory() as reading:
        items = await repository.list_items(reading{{ OWNER }}, after=0, limit=9)
    assert [item.title for item in items] == ["Kept"]
    assert len(sessions_made) == 3
    assert all(session.closed for session in sessions_made)
    assert checked_out(writer, reader) == 0


async def describe_later(database: Database, item_id: int) -> None:
    """Work for after the response: it is given ids, and opens a unit of work of its own."""
    async with database.unit_of_work() as session:
        description = {"description": "Described after the response"}
        await repository.update_item(session, item_id, description{{ OWNER }})


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
        lost = {"description": "Lost"}
        tasks.add_task(repository.update_item, session, item_id, lost{{ OWNER }})

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
async def test_a_unit_of_work_takes_its_turn_to_write_or_is_refused_at_once(
    committing_app: FastAPI, committing_client: AsyncClient
) -> None:
    """SQLite: a request that writes holds the turn to write until it ends, so a unit of work
    opened inside it, in its task or in a task it starts, would wait for itself: it is refused at
    once, with what to do instead. A request that holds no session takes its turn."""
    refused: dict[str, str] = {}

    async def nested(database: Database, where: str) -> None:
        try:
            async with database.unit_of_work():
                pass
        except RuntimeError as error:
            refused[where] = str(error)

    @committing_app.post("/nested")
    async def nest(session: SessionDep, database: DatabaseDep) -> None:
        await nested(database, "in the request's task")
        async with anyio.create_task_group() as children:
            children.start_soon(nested, database, "in a task it starts")

    @committing_app.post("/own", status_code=201)
    async def own(database: DatabaseDep) -> None:
        async with database.unit_of_work() as session:
            item = ItemCreate(title="In a unit of its own")
            await repository.create_item(session, item{{ OWNER }})

    with anyio.fail_after(3):
        nesting = await committing_client.post("/nested")
        owning = await committing_client.post("/own")

    assert nesting.status_code == 200
    assert list(refused) == ["in the request's task", "in a task it starts"]
    assert all("hand the work to a background task" in message for message in refused.values())
    assert owning.status_code == 201
    listed = (await committing_client.get("/items")).json()["items"]
    assert [item["title"] for item in listed] == ["In a unit of its own"]


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
        item = Item(title="Loaded once"{{ OWNER }})
        session.add(item)

    # After the commit and the close, no query: the INSERT's RETURNING brought back the rest.
    assert (item.title, item.description) == ("Loaded once", None)
    assert item.created_at is not None
    expiring = async_sessionmaker(committing_database.session_factory.kw["bind"])
    async with expiring() as session:
        expired = Item(title="Expired at its commit"{{ OWNER }})
        session.add(expired)
        await session.commit()
        with pytest.raises(SQLAlchemyError, match="greenlet_spawn has not been called"):
            _ = expired.title
{%- if cookiecutter.database == "sqlite" %}
    gc.collect()
{%- endif %}
