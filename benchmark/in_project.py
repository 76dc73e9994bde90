"""Run inside a rendered project's virtual environment: count the statements each endpoint
sends to the database, count the Python calls it makes, or time a read of one item in each
layer under the service. (The project's own command seeds its database.)

    python in_project.py cursor PACKAGE AFTER
    python in_project.py round-trips PACKAGE
    python in_project.py calls PACKAGE
    python in_project.py layers PACKAGE ITEMS

Its requests send the headers in BENCH_HEADERS (JSON: a token, with auth=oidc); BENCH_OWNER
names the owner of the items that `layers` reads, where items have one.
"""

import asyncio
import importlib
import json
import os
import random
import re
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import FrameType
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import Engine, event
from sqlalchemy.pool import Pool

ENDPOINTS = [
    ("GET /items/{id}", "GET", "/items/{id}", None),
    ("GET /items?limit=50", "GET", "/items?limit=50", None),
    ("GET /items deep page", "GET", "/items?limit=50&cursor={cursor}", None),
    ("POST /items", "POST", "/items", {"title": "Counted"}),
    ("PATCH /items/{id}", "PATCH", "/items/{id}", {"description": "Counted"}),
]


HEADERS: dict[str, str] = json.loads(os.environ.get("BENCH_HEADERS") or "{}")
OWNER = {"owner": os.environ["BENCH_OWNER"]} if "BENCH_OWNER" in os.environ else {}

TRACED = re.compile(r"^F\t\d+\t((?:Query|Sync)\b.*)$", re.MULTILINE)


def cursor(package: str, after: int) -> str:
    """The service's cursor for the page after the item `after`."""
    encoded: str = importlib.import_module(f"{package}.pagination").encode(after)
    return encoded


def start_trace(pgconn: Any, path: Path) -> None:
    from psycopg.pq import Trace  # the psycopg projects' only

    with path.open("a") as file:  # libpq writes to a copy of the file descriptor
        pgconn.trace(os.dup(file.fileno()))
    pgconn.set_trace_flags(Trace.SUPPRESS_TIMESTAMPS)


def round_trips(package: str, repeat: int = 20) -> dict[str, Any]:
    """Statements per request, as the database driver sends them (BEGIN and COMMIT too)."""
    sent: list[str] = []
    traces: list[tuple[Any, Path]] = []  # psycopg's connections, and where libpq traces them

    @event.listens_for(Pool, "connect")
    def trace(dbapi_connection: Any, _record: Any) -> None:
        driver = getattr(dbapi_connection, "driver_connection", dbapi_connection)
        kind = type(driver).__module__.partition(".")[0]
        if kind == "sqlite3":  # sqlite3 reports every statement
            driver.set_trace_callback(sent.append)
        elif kind == "aiosqlite":  # the same, in the connection's own thread
            dbapi_connection.run_async(lambda aio: aio.set_trace_callback(sent.append))
        elif kind == "asyncpg":  # asyncpg reports what it sends on its own: BEGIN, COMMIT, pings
            driver.add_query_logger(lambda record: sent.append(record.query))
        else:  # psycopg: libpq traces every message it sends
            traces.append((driver.pgconn, Path(tempfile.mkstemp(suffix=".trace")[1])))
            start_trace(*traces[-1])

    @event.listens_for(Engine, "after_cursor_execute")
    def statement(_connection: Any, _cursor: Any, sql: str, *_: Any) -> None:
        if "+asyncpg" in str(_connection.engine.url):  # and SQLAlchemy what it executes
            sent.append(sql)

    def traced() -> list[str]:
        """What libpq has traced since the last call (it writes its trace out as it stops): a
        simple Query, or the Sync that ends an extended query, is a round trip."""
        messages = []
        for pgconn, path in traces:
            pgconn.untrace()
            messages += TRACED.findall(path.read_text())
            path.write_text("")
            start_trace(pgconn, path)
        return messages

    app = importlib.import_module(f"{package}.main").create_app()
    counts: dict[str, Any] = {}
    with TestClient(app, headers=HEADERS) as client:
        item_id = client.post("/items", json={"title": "Counted"}).json()["id"]
        for name, method, path, body in ENDPOINTS:
            url = path.replace("{id}", str(item_id)).replace("{cursor}", cursor(package, 1))
            client.request(method, url, json=body)  # caches warm, as under load
            traced()
            sent.clear()
            for _ in range(repeat):
                assert client.request(method, url, json=body).status_code < 300
            sent += traced()
            counts[name] = {
                "per_request": len(sent) / repeat,
                "statements": [" ".join(s.split())[:60] for s in sent[: len(sent) // repeat]],
            }
    return counts


def calls(package: str, repeat: int = 50) -> dict[str, float]:
    """Python function calls per request, in the threads that serve it (the event loop's and
    the workers'), not the client's: a count of the work a request costs that, unlike its
    time, the machine's other load does not move."""
    counting = {"on": False, "calls": 0}

    def count(_frame: FrameType, event: str, _arg: Any) -> None:
        if counting["on"] and event in ("call", "c_call"):
            counting["calls"] += 1

    threading.setprofile(count)  # every thread started from here on: the server's, not ours
    app = importlib.import_module(f"{package}.main").create_app()
    counts: dict[str, float] = {}
    with TestClient(app, headers=HEADERS) as client:
        item_id = client.post("/items", json={"title": "Counted"}).json()["id"]
        for name, method, path, body in ENDPOINTS:
            url = path.replace("{id}", str(item_id)).replace("{cursor}", cursor(package, 1))
            for _ in range(5):  # caches warm, as under load
                client.request(method, url, json=body)
            counting.update(on=True, calls=0)
            for _ in range(repeat):
                client.request(method, url, json=body)
            counting["on"] = False
            counts[name] = counting["calls"] / repeat
    threading.setprofile(None)  # type: ignore[arg-type]
    return counts


LAYERS_READS = 5_000


def layers(package: str, items: int, reads: int = LAYERS_READS) -> dict[str, float]:
    """Microseconds of CPU (this process's, all its threads) that a read of one item by id,
    drawn from the first `items`, costs in each layer under the service's `GET /items/{id}`,
    one read after another: the driver alone on one open connection, the project's read
    engine (a connection from its pool, the repository's statement), and a read session (the
    repository's own function)."""
    settings = importlib.import_module(f"{package}.settings").get_settings()
    database = importlib.import_module(f"{package}.database")
    repository = importlib.import_module(f"{package}.repository")
    url = settings.url
    driver = url.get_dialect().driver  # pysqlite, aiosqlite, asyncpg or psycopg
    dsn = url.set(drivername="postgresql").render_as_string(hide_password=False)
    placeholder = {"pysqlite": "?", "aiosqlite": "?", "asyncpg": "$1"}.get(driver, "%s")
    columns = ", ".join(repository._ITEM.selected_columns.keys())
    sql = f"SELECT {columns} FROM items WHERE id = {placeholder}"
    ids = [random.randint(1, items) for _ in range(reads)]
    cpu: dict[str, float] = {}

    @contextmanager
    def timed(layer: str) -> Iterator[None]:
        started = time.process_time()
        yield
        cpu[layer] = (time.process_time() - started) / reads * 1e6

    async def driver_alone() -> None:
        if driver == "aiosqlite":
            import aiosqlite

            async with aiosqlite.connect(url.database or "") as connection:
                with timed("driver"):
                    for item_id in ids:
                        async with connection.execute(sql, (item_id,)) as rows:
                            await rows.fetchone()
        elif driver == "asyncpg":
            import asyncpg

            connection = await asyncpg.connect(dsn)
            with timed("driver"):
                for item_id in ids:
                    await connection.fetchrow(sql, item_id)
            await connection.close()
        elif driver == "psycopg":
            import psycopg

            with psycopg.connect(dsn, autocommit=True) as pg, timed("driver"):
                for item_id in ids:
                    pg.execute(sql, (item_id,)).fetchone()
        else:
            import sqlite3

            sqlite = sqlite3.connect(url.database or "")
            with timed("driver"):
                for item_id in ids:
                    sqlite.execute(sql, (item_id,)).fetchone()
            sqlite.close()

    async def through_sqlalchemy() -> None:
        async with database.open_database(settings) as opened:
            sessions = opened.read_session_factory
            engine = sessions.kw["bind"]
            parameters = {"item_id": 0}
            if OWNER:  # the repository's statements name the owner apart from the column
                parameters["owned_by"] = OWNER["owner"]
            with timed("engine"):
                for parameters["item_id"] in ids:
                    if isinstance(engine, Engine):
                        with engine.connect() as connection:
                            connection.execute(repository._ITEM, parameters).first()
                    else:
                        async with engine.connect() as connection:
                            (await connection.execute(repository._ITEM, parameters)).first()
            with timed("session"):
                for item_id in ids:
                    if isinstance(engine, Engine):
                        with sessions() as session:
                            repository.get_item(session, item_id, **OWNER)
                    else:
                        async with sessions() as session:
                            await repository.get_item(session, item_id, **OWNER)

    asyncio.run(driver_alone())
    asyncio.run(through_sqlalchemy())
    return cpu


if __name__ == "__main__":
    command, package = sys.argv[1], sys.argv[2]
    if command == "cursor":  # the service's cursor for the page after an item
        print(json.dumps(cursor(package, int(sys.argv[3]))))
    elif command == "calls":
        print(json.dumps(calls(package)))
    elif command == "layers":
        print(json.dumps(layers(package, int(sys.argv[3]))))
    else:
        print(json.dumps(round_trips(package)))
