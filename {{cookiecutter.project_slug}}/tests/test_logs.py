{%- set OWNER = ', owner="alice"' if cookiecutter.auth == "oidc" else "" -%}
{%- set postgresql = cookiecutter.database == "postgresql" -%}
"""The log, as an operator reads it: a line per request, the request's id in every line written
while it runs and in its response, and nothing secret."""

import io
import json
import logging
import re
from collections.abc import Callable
from typing import Any

import anyio
import pytest
from clients import client_for
from fastapi import FastAPI
from httpx2 import AsyncClient
from sqlalchemy import insert

from {{ cookiecutter.package_name }}.database import SessionDep, create_db_engine, open_database
from {{ cookiecutter.package_name }}.logs import configure_logging
from {{ cookiecutter.package_name }}.main import create_app
from {{ cookiecutter.package_name }}.models import Item
from {{ cookiecutter.package_name }}.settings import Settings, get_settings

Lines = Callable[[], list[dict[str, Any]]]  # conftest's `log`


def of_request(lines: list[dict[str, Any]], request_id: str) -> list[dict[str, Any]]:
    return [line for line in lines if line.get("request_id") == request_id]


async def test_every_line_a_request_writes_carries_its_id_as_does_its_response(
    log: Lines, client: AsyncClient
) -> None:
    before = len(log())  # the test's own transaction began
    created = await client.post("/items", json={"title": "Logged", "sku": "LOG-1"})
    taken = await client.post("/items", json={"title": "Logged again", "sku": "LOG-1"})

    assert (created.status_code, taken.status_code) == (201, 409)
    # Every line but the test client's own: the statements, the session's transaction (the
    # test's savepoints), the error handler's, the access lines.
    lines = [line for line in log()[before:] if line["logger"] != "httpx2"]
    assert {line["request_id"] for line in lines} == {
        created.headers["x-request-id"],
        taken.headers["x-request-id"],
    }
    for response in created, taken:
        request_id = response.headers["x-request-id"]
        assert re.fullmatch(r"[0-9a-f]{32}", request_id)
        mine = of_request(lines, request_id)
        assert mine[-1]["logger"] == "{{ cookiecutter.package_name }}.access"
        assert any("INSERT INTO items" in line["event"] for line in mine)
    [rolled_back] = [line for line in lines if "rolled back" in line["event"]]
    assert rolled_back["request_id"] == taken.headers["x-request-id"]
    assert taken.json()["request_id"] == taken.headers["x-request-id"]
    loggers = {line["logger"].rpartition(".")[0] or line["logger"] for line in lines}
    assert loggers >= {"sqlalchemy.engine", "{{ cookiecutter.package_name }}"}


async def test_the_access_line_says_what_was_asked_and_answered_and_how_fast(
    log: Lines, client: AsyncClient
) -> None:
    response = await client.get("/items/12345", params={"token": "not for the log"})

    [access] = [line for line in log() if line["logger"].endswith(".access")]
    assert access["event"] == "GET /items/12345 404"
    assert access["method"] == "GET"
    assert access["path"] == "/items/12345"
    assert access["status"] == 404
    assert 0 < access["duration_ms"] < 10_000
    assert access["level"] == "info"
    assert access["request_id"] == response.headers["x-request-id"]
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d+Z", access["timestamp"])
    assert "not for the log" not in json.dumps(log())


@pytest.mark.parametrize(
    "sent",
    ["0b5f6e3c-4b7a-4d8e-9f10-2c3d4e5f6a7b", "Root=1-67891233-abcdef012345678912345678", "a" * 128],
)
async def test_a_request_id_the_client_sends_is_kept(
    log: Lines, client: AsyncClient, sent: str
) -> None:
    response = await client.get("/items/12345", headers={"X-Request-ID": sent})

    assert response.headers["x-request-id"] == sent
    assert response.json()["request_id"] == sent
    assert of_request(log(), sent)


@pytest.mark.parametrize(
    "sent",
    [b"a" * 129, b"two words", b"<script>alert(1)</script>", b'"quoted"', "\u00fc".encode(), b""],
)
async def test_a_request_id_that_is_not_a_short_token_is_replaced_and_never_logged(
    log: Lines, client: AsyncClient, sent: bytes
) -> None:
    response = await client.get("/items/12345", headers={b"X-Request-ID": sent})

    replaced = response.headers["x-request-id"]
    assert re.fullmatch(r"[0-9a-f]{32}", replaced)
    assert of_request(log(), replaced)
    if sent:
        assert sent.decode("latin-1") not in json.dumps(log(), ensure_ascii=False)


async def test_an_unexpected_error_is_a_500_whose_traceback_is_logged_once_with_the_id(
    log: Lines, app: FastAPI, client: AsyncClient
) -> None:
    @app.get("/fails")
    def fails() -> None:
        raise RuntimeError("the cause, for the log only")

    response = await client.get("/fails")

    assert response.status_code == 500
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json() == {
        "title": "Internal Server Error",
        "status": 500,
        "detail": "An unexpected error occurred",
        "request_id": response.headers["x-request-id"],
    }
    lines = log()
    [error] = [line for line in lines if "exception" in line]
    assert error["level"] == "error"
    assert error["request_id"] == response.headers["x-request-id"]
    assert "RuntimeError: the cause, for the log only" in error["exception"]
    assert sum("the cause" in json.dumps(line) for line in lines) == 1


async def test_a_request_cancelled_before_its_answer_is_logged_as_cancelled(
    log: Lines, app: FastAPI
) -> None:
    @app.get("/slow")
    async def slow() -> None:
        await anyio.sleep(10)

    async with (
        client_for(app) as client,
        anyio.create_task_group() as requests,
    ):
        requests.start_soon(client.get, "/slow")  # as a server does when its client goes away
        await anyio.sleep(0.1)
        requests.cancel_scope.cancel()

    [access] = [line for line in log() if line["logger"].endswith(".access")]
    assert access["event"] == "GET /slow cancelled"
    assert access["status"] is None
    assert re.fullmatch(r"[0-9a-f]{32}", access["request_id"])


async def test_a_write_that_a_failed_request_rolls_back_is_logged_at_info(
    log: Lines, client: AsyncClient
) -> None:
    await client.post("/items", json={"title": "First", "sku": "ROLL-1"})
    taken = await client.post("/items", json={"title": "Second", "sku": "ROLL-1"})
    missing = await client.patch("/items/12345", json={"title": "Nobody"})
    invalid = await client.post("/items", json={"title": ""})

    assert (taken.status_code, missing.status_code, invalid.status_code) == (409, 404, 422)
    lines = log()
    [rolled_back] = [
        line
        for line in lines
        if "rolled back" in line["event"] and line["level"] not in ("debug", "notset")
    ]
    assert rolled_back["request_id"] == taken.headers["x-request-id"]
    assert rolled_back["level"] == "info"
    assert "IntegrityError" in rolled_back["event"]
    # A 404 or a 422 rolls back nothing it wrote: its line waits for LOG_LEVEL=DEBUG.
    for response in missing, invalid:
        [line] = [
            line
            for line in of_request(lines, response.headers["x-request-id"])
            if "rolled back" in line["event"]
        ]
        assert line["level"] == "debug"


async def test_nothing_secret_reaches_the_log(
    log: Lines, client: AsyncClient, unreachable_settings: Settings
) -> None:
    secrets = {"Authorization": "Bearer secret-token-1", "Cookie": "session=secret-cookie-2"}
    await client.post("/items", json={"title": "With credentials"}, headers=secrets)
    await client.get("/items", headers=secrets)
{%- if postgresql %}
    # A database that cannot be reached, named by a URL with a password: its errors are logged.
    password = "secret-password-3"
    url = unreachable_settings.url.set(username="service", password=password)
    unreachable = Settings(database_url=url.render_as_string(hide_password=False))
{%- else %}
    unreachable = unreachable_settings
{%- endif %}
    async with open_database(unreachable) as database:
        app = create_app(unreachable, database=database)
        async with client_for(app) as failing:
            ready = await failing.get("/health/ready", headers=secrets)
            write = await failing.post("/items", json={"title": "Lost"}, headers=secrets)

{%- if cookiecutter.auth == "oidc" %}
    assert (ready.status_code, write.status_code) == (503, 401)  # no such token: refused first
{%- else %}
    assert (ready.status_code, write.status_code) == (503, 503)
{%- endif %}
    written = json.dumps(log())
    assert "Database unavailable" in written
    for secret in ["secret-token-1", "secret-cookie-2"{% if postgresql %}, password{% endif %}]:
        assert secret not in written


async def test_no_value_a_client_sent_reaches_the_log_unless_log_sql_asks(
    log: Lines, client: AsyncClient, settings: Settings
) -> None:
    """Not even in the lines of a taken value, whose error quotes the row (PostgreSQL's DETAIL),
    though the log here holds every statement, as LOG_SQL's does: only their parameters are
    hidden, unless LOG_SQL is on where the engines are made."""
    item = {"title": "Private-title-7", "description": "ssn 999-45-6789", "sku": "PRIVATE-8"}
    await client.post("/items", json=item)
    taken = await client.post("/items", json=item)

    assert taken.status_code == 409
    lines = log()
    written = json.dumps(lines)
    assert [value for value in item.values() if value in written] == []
    assert any(line["event"] == "Unique value taken: items (sku)" for line in lines)
    assert any("INSERT INTO items" in line["event"] for line in lines)
    logging_sql = settings.model_copy(update={"log_sql": True})
    engines = [create_db_engine(s){{ ".sync_engine" if cookiecutter | session_style == "async" }} for s in (settings, logging_sql)]
    assert [engine.hide_parameters for engine in engines] == [True, False]


async def test_a_constraint_that_a_bug_breaks_is_named_in_the_log_not_the_row(
    log: Lines, app: FastAPI, client: AsyncClient
) -> None:
    """A write that the schema refuses is a bug, a 500 whose traceback the log keeps: it names
    the constraint, never the row that broke it (PostgreSQL's DETAIL line quotes it)."""

    private = "-".join(["ssn 999", "45", "6789"])  # as sent: not in the traceback's source lines

    @app.post("/breaks")
    {{ "async " if cookiecutter | session_style == "async" }}def breaks(session: SessionDep) -> None:
        {{ "await " if cookiecutter | session_style == "async" }}session.execute(insert(Item).values(title=None, description=private{{ OWNER }}))

    response = await client.post("/breaks")

    assert response.status_code == 500
    [error] = [line for line in log() if "exception" in line]
    assert re.search(r"not.null constraint", error["exception"], re.IGNORECASE)
    assert private not in json.dumps(log())


async def test_text_lines_have_the_time_the_level_and_the_logger_one_line_each(
    settings: Settings, client: AsyncClient
) -> None:
    stream = io.StringIO()
    text = settings.model_copy(update={"log_format": "text", "log_level": "INFO"})
{%- if cookiecutter.auth == "oidc" %}
    await client.get("/items")  # the provider's keys fetched, and logged, before this log
{%- endif %}
    configure_logging(text, stream)
    try:
        response = await client.get("/items/%0Afake%20line")  # a line break, percent-encoded
    finally:
        configure_logging(get_settings())

    assert response.status_code == 422
    [line] = [line for line in stream.getvalue().splitlines() if "[httpx2]" not in line]
    assert re.fullmatch(
        r"\d{4}-\d\d-\d\dT[\d:.]+Z \[info +\] GET /items/%0Afake%20line 422 +"
        r"\[{{ cookiecutter.package_name }}\.access\] duration_ms=[\d.]+ method=GET"
        r" path=/items/%0Afake%20line request_id=[0-9a-f]{32} status=422",
        line,
    )


def test_uvicorn_s_lines_go_through_the_service_s_log_and_its_access_lines_do_not(
    log: Lines,
) -> None:
    logging.getLogger("uvicorn.error").info("Started server process [1]")
    logging.getLogger("uvicorn.access").info('127.0.0.1:1 - "GET / HTTP/1.1" 200')

    assert [(line["logger"], line["event"]) for line in log()] == [
        ("uvicorn.error", "Started server process [1]")
    ]


def test_the_openapi_schema_documents_the_request_id_of_an_error(app: FastAPI) -> None:
    problem = app.openapi()["components"]["schemas"]["Problem"]

    assert problem["properties"]["request_id"]["description"].startswith("The request's id")
    assert "request_id" not in problem.get("required", [])
