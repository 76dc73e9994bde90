{%- set OWNER = ', owner="alice"' if cookiecutter.auth == "oidc" else "" -%}
"""Units of work outside a request: a script's or a worker's, a background task's (which never
gets the request's session), and what a unit of work loaded, after its commit. These tests
commit for real (committing_fixtures.py)."""
{% if cookiecutter.database == "sqlite" %}
import time
{% endif %}
import pytest
from committing_fixtures import TrackedSession, checked_out
from fastapi import BackgroundTasks, FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlalchemy.exc import InvalidRequestError

from {{ cookiecutter.package_name }} import repository
from {{ cookiecutter.package_name }}.database import Database, DatabaseDep, SessionDep
from {{ cookiecutter.package_name }}.schemas import ItemCreate


def test_a_unit_of_work_outside_a_request_commits_or_rolls_back_and_always_closes(
    committing_database: Database,
    sessions_made: list[TrackedSession],
    writer: Engine,
    reader: Engine,
) -> None:
    def work(title: str, *, fail: bool = False) -> None:  # as a script or a worker does
        with committing_database.unit_of_work() as session:
            repository.create_item(session, ItemCreate(title=title){{ OWNER }})
            if fail:
                raise RuntimeError("the work failed after its write")

    work("Kept")
    with pytest.raises(RuntimeError):
        work("Rolled back", fail=True)

    with committing_database.read_session_factory() as reading:
        items = repository.list_items(reading{{ OWNER }}, after=0, limit=9)
    assert [item.title for item in items] == ["Kept"]
    assert len(sessions_made) == 3
    assert all(session.closed for session in sessions_made)
    assert checked_out(writer, reader) == 0


{% if cookiecutter.database == "sqlite" -%}
def test_a_unit_of_work_takes_its_turn_to_write_or_is_refused_at_once(
    committing_app: FastAPI, committing_client: TestClient
) -> None:
    """SQLite: a request that writes holds the turn to write until it ends, so a unit of work
    opened inside its route would wait for itself: it is refused at once, with what to do
    instead. A route that holds no session takes its turn, waited for in the event loop."""
    refused: list[str] = []

    @committing_app.post("/nested")
    def nest(session: SessionDep, database: DatabaseDep) -> None:
        try:
            with database.unit_of_work():
                pass
        except RuntimeError as error:
            refused.append(str(error))

    @committing_app.post("/own", status_code=201)
    def own(database: DatabaseDep) -> None:
        with database.unit_of_work() as session:
            repository.create_item(session, ItemCreate(title="In a unit of its own"){{ OWNER }})

    started = time.perf_counter()
    nesting = committing_client.post("/nested")
    elapsed = time.perf_counter() - started
    owning = committing_client.post("/own")

    assert nesting.status_code == 200
    assert elapsed < 1, elapsed  # not BUSY_TIMEOUT (5 s)
    assert len(refused) == 1
    assert "hand the work to a background task" in refused[0]
    assert owning.status_code == 201
    listed = committing_client.get("/items").json()["items"]
    assert [item["title"] for item in listed] == ["In a unit of its own"]


{% endif -%}
def describe_later(database: Database, item_id: int) -> None:
    """Work for after the response: it is given ids, and opens a unit of work of its own."""
    with database.unit_of_work() as session:
        described = {"description": "Described after the response"}
        repository.update_item(session, item_id, described{{ OWNER }})


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
        lost = {"description": "Lost"}
        tasks.add_task(repository.update_item, session, item_id, lost{{ OWNER }})

    item = committing_client.post("/items", json={"title": "Never described"}).json()
    # By the time the task runs the request's session is closed, for good: it refuses the work,
    # rather than write in a transaction that nobody would commit, and the error is logged.
    response = committing_client.post(f"/items/{item['id']}/describe-wrongly")

    assert response.status_code == 202
    [logged] = [record.exc_info[1] for record in caplog.records if record.exc_info]
    assert isinstance(logged, InvalidRequestError)
    assert "permanently closed" in str(logged)
    assert committing_client.get(f"/items/{item['id']}").json()["description"] is None
