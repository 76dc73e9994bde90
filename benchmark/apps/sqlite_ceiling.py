"""The ceiling for the SQLite variant: Starlette and the sqlite3 module in the thread pool, no
validation, no ORM. It answers the same requests with the same queries as the service."""

import os
import sqlite3
import threading
from typing import Any

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

PATH = os.environ["DATABASE_URL"].removeprefix("sqlite:///")
COLUMNS = "id, title, description, sku, created_at, updated_at, version"
local = threading.local()


def connection() -> sqlite3.Connection:
    if not hasattr(local, "connection"):
        local.connection = sqlite3.connect(PATH, isolation_level=None, timeout=5)
        local.connection.row_factory = sqlite3.Row
        local.connection.execute("PRAGMA journal_mode = WAL")
        local.connection.execute("PRAGMA synchronous = NORMAL")
    return local.connection


def one(sql: str, *parameters: Any) -> dict[str, Any] | None:
    row = connection().execute(sql, parameters).fetchone()
    return dict(row) if row else None


def page(limit: int, after: int) -> dict[str, Any]:
    """The service's keyset page: the items after `after`, and one more to know if there is a
    next page."""
    rows = (
        connection()
        .execute(
            f"SELECT {COLUMNS} FROM items WHERE id > ? ORDER BY id LIMIT ?", (after, limit + 1)
        )
        .fetchall()
    )
    more = len(rows) > limit
    next_cursor = str(rows[limit - 1]["id"]) if more else None
    return {"items": [dict(row) for row in rows[:limit]], "next_cursor": next_cursor}


def write(sql: str, *parameters: Any) -> dict[str, Any] | None:
    db = connection()
    db.execute("BEGIN IMMEDIATE")
    try:
        row = db.execute(sql, parameters).fetchone()
        db.execute("COMMIT")
    except BaseException:
        db.execute("ROLLBACK")
        raise
    return dict(row) if row else None


async def read_item(request: Request) -> Response:
    item_id = int(request.path_params["item_id"])
    item = await run_in_threadpool(one, f"SELECT {COLUMNS} FROM items WHERE id = ?", item_id)
    return JSONResponse(item) if item else JSONResponse({"detail": "not found"}, 404)


async def list_items(request: Request) -> Response:
    limit = int(request.query_params.get("limit", 20))
    after = int(request.query_params.get("after", 0))
    return JSONResponse(await run_in_threadpool(page, limit, after))


async def create_item(request: Request) -> Response:
    body = await request.json()
    sql = f"INSERT INTO items (title, description, sku) VALUES (?, ?, ?) RETURNING {COLUMNS}"
    item = await run_in_threadpool(
        write, sql, body["title"], body.get("description"), body.get("sku")
    )
    return JSONResponse(item, 201)


async def update_item(request: Request) -> Response:
    body = await request.json()
    sql = (
        "UPDATE items SET description = ?, updated_at = CURRENT_TIMESTAMP, version = version + 1"
        " WHERE id = ?"
        f" RETURNING {COLUMNS}"
    )
    item_id = int(request.path_params["item_id"])
    item = await run_in_threadpool(write, sql, body["description"], item_id)
    return JSONResponse(item) if item else JSONResponse({"detail": "not found"}, 404)


def app_reading_with(read: Any) -> Starlette:
    """The ceiling's app, with `read` as its route for one item."""
    return Starlette(
        routes=[
            Route("/items", list_items, methods=["GET"]),
            Route("/items", create_item, methods=["POST"]),
            Route("/items/{item_id:int}", read, methods=["GET"]),
            Route("/items/{item_id:int}", update_item, methods=["PATCH"]),
        ]
    )


app = app_reading_with(read_item)
