{%- set is_async = cookiecutter | session_style == "async" -%}
"""Told to stop, the service fails readiness at once, so that traffic goes elsewhere while its
requests finish; liveness holds until it exits. (Serving and stopping it under uvicorn, with
requests in flight, is the template's test.)"""

import asyncio
import signal
import threading
from collections.abc import Callable
from typing import Any

from fastapi import FastAPI
from httpx2 import ASGITransport, AsyncClient
from sqlalchemy import text

from {{ cookiecutter.package_name }} import shutdown
from {{ cookiecutter.package_name }}.database import open_database
from {{ cookiecutter.package_name }}.main import create_app
from {{ cookiecutter.package_name }}.settings import Settings

Lines = Callable[[], list[dict[str, Any]]]  # conftest's `log`


async def test_readiness_fails_from_the_stop_signal_on_and_the_server_still_gets_it(
    settings: Settings, engine: Any
) -> None:
    app = create_app(settings)  # its own database, opened by its lifespan, as when served
    received: list[int] = []

    def server_handler(number: int, _frame: Any) -> None:  # as uvicorn's: it stops the server
        received.append(number)

    previous = signal.signal(signal.SIGTERM, server_handler)
    try:
        async with (
            app.router.lifespan_context(app),
            AsyncClient(transport=ASGITransport(app=app), base_url="http://testserver") as client,
        ):
            before = await client.get("/health/ready")
            signal.raise_signal(signal.SIGTERM)
            ready, live = await client.get("/health/ready"), await client.get("/health/live")
        after_lifespan = signal.getsignal(signal.SIGTERM)
    finally:
        signal.signal(signal.SIGTERM, previous)

    assert before.status_code == 200
    assert ready.status_code == 503
    assert ready.json()["detail"].startswith("The service is stopping")
    assert live.status_code == 200
    assert received == [signal.SIGTERM]  # handed on to the server's handler
    assert after_lifespan is server_handler  # put back as the lifespan ended


async def test_a_request_the_server_cancels_as_it_stops_is_answered_503(
    app: FastAPI, client: AsyncClient, log: Lines
) -> None:
    """As uvicorn cancels the requests still running at its shutdown bound: the client is told
    the service is stopping (uvicorn's own answer would be a 500, with a traceback in the log)."""

    @app.get("/slow")
    async def slow() -> None:
        await asyncio.sleep(10)

    async def cancelled(stopping: bool) -> Any:
        app.state.stopping = stopping
        request = asyncio.ensure_future(client.get("/slow"))
        await asyncio.sleep(0.1)
        request.cancel()
        return await asyncio.gather(request, return_exceptions=True)

    [answer] = await cancelled(stopping=True)
    [not_stopping] = await cancelled(stopping=False)  # then it is not the server stopping

    assert answer.status_code == 503
    assert answer.json()["detail"] == "The service is stopping"
    assert isinstance(not_stopping, asyncio.CancelledError)
    access = [line["event"] for line in log() if line["logger"].endswith(".access")]
    assert access == ["GET /slow 503", "GET /slow cancelled"]
    assert not [line for line in log() if line["level"] == "error"]


async def close_with_a_connection_in_use(settings: Settings, *, returned: bool) -> None:
    async with open_database(settings) as database:
        session = database.session_factory()
        {{ "await " if is_async }}session.execute(text("SELECT 1"))  # holds its connection
        if returned:
            loop = asyncio.get_running_loop()
            loop.call_later(0.1, {{ "asyncio.ensure_future, session.close()" if is_async else "session.close" }})
    {{ "await " if is_async }}session.invalidate()  # its connection, closed: the pool it came from is gone


async def test_the_engines_wait_for_a_connection_still_in_use_then_go_without_it(
    settings: Settings, engine: Any, log: Lines
) -> None:
    """As after the server cancelled a request at its shutdown bound: a connection that comes
    back within the grace is waited for; one that does not is left to the database."""
    await close_with_a_connection_in_use(settings, returned=True)
    await close_with_a_connection_in_use(settings, returned=False)
    events = [line["event"] for line in log() if line["logger"].endswith(".shutdown")]

    in_use = "Stopping with 1 database connections in use: rolling them back"
    assert events[:2] == [in_use, in_use]
    assert len(events) == 3
    assert events[2].startswith("1 database connections still in use after 0.5 seconds")


def test_the_signal_takes_its_default_course_where_no_handler_was_there() -> None:
    """Ignored before (as by a container's first process), it is noted, then ignored still."""
    noted: list[bool] = []
    previous = signal.signal(signal.SIGTERM, signal.SIG_IGN)
    try:
        with shutdown.on_stop_signal(lambda: noted.append(True)):
            signal.raise_signal(signal.SIGTERM)
        after = signal.getsignal(signal.SIGTERM)
    finally:
        signal.signal(signal.SIGTERM, previous)

    assert noted == [True]
    assert after == signal.SIG_IGN


def test_outside_the_main_thread_no_handler_is_set() -> None:
    """Python lets only the main thread set a handler (a test client runs the lifespan in
    another): the signal stays the server's."""
    inside: list[Any] = []

    def lifespan() -> None:
        with shutdown.on_stop_signal(lambda: None):
            inside.append(signal.getsignal(signal.SIGTERM))

    thread = threading.Thread(target=lifespan)
    thread.start()
    thread.join()

    assert inside == [signal.getsignal(signal.SIGTERM)]
