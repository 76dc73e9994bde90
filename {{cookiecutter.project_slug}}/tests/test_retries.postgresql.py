{%- set OWNER = ', owner="alice"' if cookiecutter.auth == "oidc" else "" -%}
{%- set is_async = cookiecutter | session_style == "async" -%}
{%- set aw = "await " if is_async else "" -%}
"""Writes whose transactions lose to concurrent ones (a deadlock, a serialization failure) run
again, whole, up to TRANSACTION_RETRIES times; no answer is ever a 500, and none is lost."""

import asyncio
{%- if not is_async %}
import time
{%- endif %}
from collections.abc import {{ "AsyncIterator, Awaitable, Callable" if is_async else "Callable, Iterator" }}
{%- if not is_async %}
from concurrent.futures import ThreadPoolExecutor
{%- endif %}
from typing import Any

import pytest
from clients import client_for
from database_fixtures import MakeSettings
from fastapi import FastAPI
from item_requests import append_at_once, create
from prometheus_client import REGISTRY
{%- if is_async %}
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine
{%- else %}
from sqlalchemy import Engine, text
{%- endif %}

from {{ cookiecutter.package_name }} import repository
from {{ cookiecutter.package_name }}.database import (
    Database,
    SessionDep,
    WriteSession,
    create_db_engine,
    database_for,
)
from {{ cookiecutter.package_name }}.main import create_app
from {{ cookiecutter.package_name }}.schemas import ItemCreate

Migrate = Callable[[{{ "AsyncEngine" if is_async else "Engine" }}], {{ "Awaitable[None]" if is_async else "None" }}]
MakeApp = Callable[..., {{ "Awaitable[FastAPI]" if is_async else "FastAPI" }}]


@pytest.fixture
{{ "async " if is_async }}def make_app(make_settings: MakeSettings, migrate: Migrate) -> {{ "AsyncIterator" if is_async else "Iterator" }}[MakeApp]:
    """The application on a database of its own, with the settings given."""
    engines: list[{{ "AsyncEngine" if is_async else "Engine" }}] = []

    {{ "async " if is_async }}def make(**settings: Any) -> FastAPI:
        own = ({{ aw }}make_settings()).model_copy(update=settings)
        writer, reader = create_db_engine(own), create_db_engine(own, read_only=True)
        engines.extend((writer, reader))
        {{ aw }}migrate(writer)
        app = create_app(own, database=database_for(writer, reader))

        @app.post("/lock/{first}/{second}", status_code=204)
        {{ "async " if is_async }}def lock(first: int, second: int, session: SessionDep) -> None:
            """Lock two items, the second a moment after the first."""
            touch = text("UPDATE items SET title = title WHERE id = :id")
            {{ aw }}session.execute(touch, {"id": first})
            {{ "await asyncio.sleep(0.3)" if is_async else "time.sleep(0.3)" }}
            {{ aw }}session.execute(touch, {"id": second})

        return app

    yield make
    for engine in engines:
        {{ aw }}engine.dispose()


@pytest.mark.parametrize("retries", [3, 0])
async def test_two_writes_that_deadlock_both_commit_after_a_retry(
    make_app: MakeApp, retries: int, caplog: pytest.LogCaptureFixture
) -> None:
    """Two requests lock two rows in opposite orders: the server ends one of them (40P01).
    It runs again and commits; with TRANSACTION_RETRIES=0 it is a 409, never a 500. Each retry
    is logged, and counted in the metrics."""
    app = {{ aw }}make_app(transaction_retries=retries, metrics_enabled=True)
    async with client_for(app) as client:
        for title in ("A", "B"):
            assert (await client.post("/items", json={"title": title})).status_code == 201
        counted = _retries_counted((await client.get("/metrics")).text)
        answers = await asyncio.gather(client.post("/lock/1/2"), client.post("/lock/2/1"))
        counted = _retries_counted((await client.get("/metrics")).text) - counted

    statuses = sorted(answer.status_code for answer in answers)
    retried = [r.getMessage() for r in caplog.records if "lost to a concurrent" in r.getMessage()]
    if retries:
        assert statuses == [204, 204]
        assert len(retried) == 1
        assert "(SQLSTATE 40P01): retry 1 of 3 in" in retried[0]
        assert counted == 1
    else:
        assert statuses == [204, 409]
        assert (retried, counted) == ([], 0)
        conflict = next(answer for answer in answers if answer.status_code == 409)
        assert conflict.headers["retry-after"] == "1"


{{ "async " if is_async }}def test_units_of_work_that_deadlock_both_commit_after_a_retry(make_app: MakeApp) -> None:
    """The same outside a request: Database.transaction runs the work again, whole, and counts
    the retry in the metrics."""
    database: Database = ({{ aw }}make_app()).state.database
    counted = _unit_of_work_retries()
    touch = text("UPDATE items SET title = title || '+' WHERE id = :id")
    tries = []

    def locking(first: int, second: int) -> Callable[[WriteSession], {{ "Awaitable[None]" if is_async else "None" }}]:
        {{ "async " if is_async }}def work(session: WriteSession) -> None:
            tries.append(first)
            {{ aw }}session.execute(touch, {"id": first})
            {{ "await asyncio.sleep(0.3)" if is_async else "time.sleep(0.3)" }}
            {{ aw }}session.execute(touch, {"id": second})

        return work

    {{ "async " if is_async }}with database.unit_of_work() as session:
        items = [ItemCreate(title="A"), ItemCreate(title="B")]
        {{ aw }}repository.create_items(session, items{{ OWNER }})
{%- if is_async %}
    await asyncio.gather(database.transaction(locking(1, 2)), database.transaction(locking(2, 1)))
{%- else %}
    with ThreadPoolExecutor(2) as pool:
        list(pool.map(lambda pair: database.transaction(locking(*pair)), [(1, 2), (2, 1)]))
{%- endif %}
    {{ "async " if is_async }}with database.unit_of_work() as session:
        titles = {{ aw }}session.scalars(text("SELECT title FROM items ORDER BY id"))

    assert len(tries) == 3  # one of the two ran again
    assert list(titles) == ["A++", "B++"]  # and each ran once to its end
    assert _unit_of_work_retries() - counted == 1


@pytest.mark.parametrize("retries", [3, 0])
async def test_concurrent_serializable_patches_of_one_item_lose_no_write(
    make_app: MakeApp, retries: int
) -> None:
    """24 PATCHes of one item at once, under ISOLATION_LEVEL=serializable: each is a 200 or,
    once its tries are spent, a 409 with Retry-After; never a 500, and each 200 is one version
    more: no write is lost, none is applied twice."""
    app = {{ aw }}make_app(isolation_level="serializable", transaction_retries=retries)
    async with client_for(app) as client:
        url = f"/items/{(await client.post('/items', json={'title': 'First'})).json()['id']}"
        answers = await asyncio.gather(
            *(client.patch(url, json={"description": f"w{n}"}) for n in range(24))
        )
        item = (await client.get(url)).json()

    statuses = [answer.status_code for answer in answers]
    assert set(statuses) <= {200, 409}, statuses
    assert all(a.headers["retry-after"] == "1" for a in answers if a.status_code == 409)
    assert item["version"] == 1 + statuses.count(200)
    written = {answer.json()["description"] for answer in answers if answer.status_code == 200}
    assert item["description"] in written
    if not retries:
        assert 409 in statuses  # they did collide


@pytest.mark.parametrize("retries", [3, 0])
async def test_serializable_appends_through_if_match_lose_none(
    make_app: MakeApp, retries: int
) -> None:
    """16 clients append to one item's description by GET then PATCH with If-Match, under
    ISOLATION_LEVEL=serializable: a write that lost the race and ran again finds the version
    moved (412); one whose tries were spent is a 409 the client waits out. Every word is kept."""
    app = {{ aw }}make_app(isolation_level="serializable", transaction_retries=retries)
    words = [f"w{n}" for n in range(16)]
    async with client_for(app) as client:
        url = f"/items/{(await create(client, description=''))['id']}"
        refused = await append_at_once(client, url, words)
        final = (await client.get(url)).json()

    assert sorted(final["description"].split()) == sorted(words)
    assert final["version"] == 17
    assert refused[412] > 0  # the clients did overlap
    if not retries:
        assert refused[409] > 0  # and lost races, which no retry hid


def _retries_counted(metrics: str) -> float:
    """The retries after a deadlock that GET /metrics counts (the counter is the process's)."""
    line = 'db_transaction_retries_total{sqlstate="40P01",work="request"} '
    return sum(
        float(row.removeprefix(line)) for row in metrics.splitlines() if row.startswith(line)
    )


def _unit_of_work_retries() -> float:
    """Database.transaction's retries after a deadlock, as this process's metrics count them."""
    labels = {"sqlstate": "40P01", "work": "unit_of_work"}
    return REGISTRY.get_sample_value("db_transaction_retries_total", labels) or 0.0
