"""Run inside a rendered project's virtual environment: seed its database, count the
statements each endpoint sends to the database, or count the Python calls it makes.

    python in_project.py seed PACKAGE COUNT
    python in_project.py round-trips PACKAGE
    python in_project.py calls PACKAGE
"""

import asyncio
import importlib
import json
import sys
import threading
from types import FrameType
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import Engine, create_engine, event, insert
from sqlalchemy.pool import Pool

ENDPOINTS = [
    ("GET /items/{id}", "GET", "/items/{id}", None),
    ("GET /items?limit=50", "GET", "/items?limit=50", None),
    ("POST /items", "POST", "/items", {"title": "Counted"}),
    ("PATCH /items/{id}", "PATCH", "/items/{id}", {"description": "Counted"}),
]


def seed(package: str, count: int) -> None:
    items = importlib.import_module(f"{package}.models").Item.__table__
    url = importlib.import_module(f"{package}.settings").get_settings().database_url
    rows = [
        {"title": f"Item {n}", "description": "Seeded for the benchmark", "sku": f"SEED-{n}"}
        for n in range(1, count + 1)
    ]
    if url.startswith("sqlite"):
        engine = create_engine(url)
        with engine.begin() as connection:
            connection.execute(insert(items), rows)
        engine.dispose()
        return

    from sqlalchemy.ext.asyncio import create_async_engine  # the PostgreSQL variant's only

    async def seed_async() -> None:
        engine = create_async_engine(url)
        async with engine.begin() as connection:
            await connection.execute(insert(items), rows)
        await engine.dispose()

    asyncio.run(seed_async())


def round_trips(package: str, repeat: int = 20) -> dict[str, Any]:
    """Statements per request, as the database driver sends them (BEGIN and COMMIT too)."""
    sent: list[str] = []

    @event.listens_for(Pool, "connect")
    def trace(dbapi_connection: Any, _record: Any) -> None:
        driver = getattr(dbapi_connection, "driver_connection", dbapi_connection)
        if hasattr(driver, "set_trace_callback"):  # sqlite3 reports every statement
            driver.set_trace_callback(sent.append)
        else:  # asyncpg reports what it sends on its own: BEGIN, COMMIT, ROLLBACK, pings
            driver.add_query_logger(lambda record: sent.append(record.query))

    @event.listens_for(Engine, "after_cursor_execute")
    def statement(_connection: Any, _cursor: Any, sql: str, *_: Any) -> None:
        if "+asyncpg" in str(_connection.engine.url):  # and SQLAlchemy what it executes
            sent.append(sql)

    app = importlib.import_module(f"{package}.main").create_app()
    counts: dict[str, Any] = {}
    with TestClient(app) as client:
        item_id = client.post("/items", json={"title": "Counted"}).json()["id"]
        for name, method, path, body in ENDPOINTS:
            url = path.replace("{id}", str(item_id))
            client.request(method, url, json=body)  # caches warm, as under load
            sent.clear()
            for _ in range(repeat):
                assert client.request(method, url, json=body).status_code < 300
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
    with TestClient(app) as client:
        item_id = client.post("/items", json={"title": "Counted"}).json()["id"]
        for name, method, path, body in ENDPOINTS:
            url = path.replace("{id}", str(item_id))
            for _ in range(5):  # caches warm, as under load
                client.request(method, url, json=body)
            counting.update(on=True, calls=0)
            for _ in range(repeat):
                client.request(method, url, json=body)
            counting["on"] = False
            counts[name] = counting["calls"] / repeat
    threading.setprofile(None)  # type: ignore[arg-type]
    return counts


if __name__ == "__main__":
    command, package = sys.argv[1], sys.argv[2]
    if command == "seed":
        seed(package, int(sys.argv[3]))
    elif command == "calls":
        print(json.dumps(calls(package)))
    else:
        print(json.dumps(round_trips(package)))
