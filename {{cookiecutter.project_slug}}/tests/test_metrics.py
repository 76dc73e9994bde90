{%- set is_async = cookiecutter | session_style == "async" -%}
{%- set aw = "await " if is_async else "" -%}
{%- set postgresql = cookiecutter.database == "postgresql" -%}
"""GET /metrics, read with Prometheus's own parser: the figures move as the requests go."""

{% if not is_async -%}
import threading
{% endif -%}
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any

import anyio
import pytest
from clients import client_for
from database_fixtures import MakeSettings
from fastapi import FastAPI
from httpx2 import AsyncClient
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import select

from {{ cookiecutter.package_name }}.database import SessionDep, create_db_engine, open_database
from {{ cookiecutter.package_name }}.main import create_app
from {{ cookiecutter.package_name }}.models import Item

Figures = dict[tuple[str, frozenset[tuple[str, str]]], float]


Serve = Callable[..., AbstractAsyncContextManager[tuple[FastAPI, AsyncClient]]]


@pytest.fixture
async def serve_measured(make_settings: MakeSettings, migrate: Callable[..., Any]) -> Serve:
    """Serve the app with METRICS_ENABLED=true (and other settings given) on a database of its
    own, migrated first."""
    settings = {{ aw }}make_settings()
    migrator = create_db_engine(settings)
    {{ aw }}migrate(migrator)
    {{ aw }}migrator.dispose()

    @asynccontextmanager
    async def serve(**options: Any) -> AsyncIterator[tuple[FastAPI, AsyncClient]]:
        measured = settings.model_copy(update={"metrics_enabled": True, **options})
        async with open_database(measured) as database:
            app = create_app(measured, database=database)
            async with client_for(app) as client:
                yield app, client

    return serve


async def scrape(client: AsyncClient) -> Figures:
    response = await client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain; version=")
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }


def figure(figures: Figures, name: str, **labels: str) -> float:
    return figures.get((name, frozenset(labels.items())), 0.0)


async def test_there_are_no_metrics_unless_they_are_enabled(client: AsyncClient) -> None:
    assert (await client.get("/metrics")).status_code == 404


async def test_a_write_adds_one_commit_and_a_failed_write_one_rollback(
    serve_measured: Serve,
) -> None:
    async with serve_measured() as (_app, client):
        before = await scrape(client)
        created = await client.post("/items", json={"title": "Counted", "sku": "M-1"})
        written = await scrape(client)
        taken = await client.post("/items", json={"title": "Rolled back", "sku": "M-1"})
        failed = await scrape(client)

    assert (created.status_code, taken.status_code) == (201, 409)

    def moved(after: Figures, since: Figures, outcome: str) -> float:
        labels = {"pool": "write", "outcome": outcome}
        return figure(after, "db_transactions_total", **labels) - figure(
            since, "db_transactions_total", **labels
        )

    assert (moved(written, before, "commit"), moved(written, before, "rollback")) == (1, 0)
    assert (moved(failed, written, "commit"), moved(failed, written, "rollback")) == (0, 1)


async def test_requests_are_counted_by_route_template_method_and_status(
    serve_measured: Serve,
) -> None:
    count = "http_request_duration_seconds_count"
    async with serve_measured() as (app, client):

        @app.get("/slow")
        async def slow() -> None:
            await anyio.sleep(10)

        before = await scrape(client)
        for item_id in (12345, 12346):
            await client.get(f"/items/{item_id}")
        await client.get("/no/such/path")
        await client.request("BREW", "/items")
        async with anyio.create_task_group() as requests:  # cancelled before its answer
            requests.start_soon(client.get, "/slow")
            await anyio.sleep(0.1)
            requests.cancel_scope.cancel()
        after = await scrape(client)

    def moved(**labels: str) -> float:
        return figure(after, count, **labels) - figure(before, count, **labels)

    assert moved(method="GET", route="/items/{item_id}", status="404") == 2
    assert moved(method="GET", route="unmatched", status="404") == 1
    assert moved(method="other", route="/items", status="405") == 1
    assert not [labels for name, labels in after if ("route", "/slow") in labels]
    assert not any("12345" in str(labels) for _, labels in after)


@asynccontextmanager
async def a_write_connection_held(app: FastAPI, client: AsyncClient) -> AsyncIterator[None]:
    """A request to `app` whose write session holds its connection, mid-statement, until the
    block ends."""
{%- if is_async %}
    started, release = anyio.Event(), anyio.Event()
{%- else %}
    started, release = threading.Event(), threading.Event()
{%- endif %}

    @app.post("/hold")
    {{ "async " if is_async }}def hold(session: SessionDep) -> None:
        {{ aw }}session.execute(select(Item.id).limit(1))  # its connection is out now
        started.set()
        {{ "await release.wait()" if is_async else "release.wait(timeout=10)" }}

    async with anyio.create_task_group() as requests:
        requests.start_soon(client.post, "/hold")
        with anyio.fail_after(10):
            {{ "await started.wait()" if is_async else "await anyio.to_thread.run_sync(started.wait)" }}
        try:
            yield
        finally:
            release.set()


async def test_a_request_held_mid_statement_has_one_connection_out_then_none(
    serve_measured: Serve,
) -> None:
    async with serve_measured() as (app, client):
        before = await scrape(client)
        async with a_write_connection_held(app, client):
            held = await scrape(client)
        after = await scrape(client)

    out = "db_pool_connections_checked_out"
    assert figure(held, out, pool="write") == 1
    assert figure(held, out, pool="read") == 0
    assert figure(after, out, pool="write") == figure(after, out, pool="read") == 0
    assert figure(held, "db_pool_size", pool="write") >= 1
    assert figure(held, "db_pool_overflow", pool="write") == 0
    waits = "db_pool_wait_seconds_count"
    assert figure(after, waits, pool="write") - figure(before, waits, pool="write") == 1
{%- if postgresql %}


async def test_a_request_that_gets_no_connection_in_time_is_counted_as_a_timeout(
    serve_measured: Serve,
) -> None:
    async with serve_measured(pool_size=1, max_overflow=0, pool_timeout=0.2) as (app, client):
        before = await scrape(client)
        async with a_write_connection_held(app, client):
            refused = await client.post("/items", json={"title": "No connection"})
        after = await scrape(client)

    assert refused.status_code == 503

    def moved(name: str) -> float:
        return figure(after, name, pool="write") - figure(before, name, pool="write")

    assert moved("db_pool_timeouts_total") == 1
    assert moved("db_pool_wait_seconds_sum") >= 0.2
{%- endif %}
