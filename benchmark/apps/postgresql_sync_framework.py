"""The framework bound for PostgreSQL with sync sessions: FastAPI, with the service's own
request and response models, `def` routes over psycopg connections (the ceiling's queries, no
ORM, no session)."""

import importlib
import os
import queue
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated, Any

import psycopg
from fastapi import FastAPI, HTTPException, Path, Query
from postgresql_ceiling import COLUMNS, URL
from psycopg.rows import DictRow, dict_row

schemas = importlib.import_module(f"{os.environ['BENCH_PACKAGE']}.schemas")
ItemId = Annotated[int, Path(ge=1, le=2**31 - 1)]
idle: queue.SimpleQueue[psycopg.Connection[DictRow]] = queue.SimpleQueue()
app = FastAPI()


@contextmanager
def connection() -> Iterator[psycopg.Connection[DictRow]]:
    """A connection of the pool, which grows to one per request in flight; autocommit, so that
    a read is one statement, as the service's read sessions are."""
    try:
        conn = idle.get_nowait()
    except queue.Empty:
        conn = psycopg.connect(URL, autocommit=True, row_factory=dict_row)
    try:
        yield conn
    finally:
        idle.put(conn)


def write(sql: str, *parameters: Any) -> DictRow | None:
    with connection() as conn, conn.transaction():  # BEGIN, the statement, COMMIT
        return conn.execute(sql, parameters).fetchone()


@app.get("/items/{item_id}", response_model=schemas.ItemRead)
def read_item(item_id: ItemId) -> Any:
    with connection() as conn:
        item = conn.execute(f"SELECT {COLUMNS} FROM items WHERE id = %s", (item_id,)).fetchone()
    if item is None:
        raise HTTPException(404, f"Item {item_id} not found")
    return item


@app.get("/items", response_model=schemas.ItemPage)
def list_items(
    after: Annotated[int, Query(ge=0, le=2**31 - 1)] = 0,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
) -> Any:
    sql = f"SELECT {COLUMNS} FROM items WHERE id > %s ORDER BY id LIMIT %s"
    with connection() as conn:
        items = conn.execute(sql, (after, limit + 1)).fetchall()
    next_cursor = str(items[limit - 1]["id"]) if len(items) > limit else None
    return {"items": items[:limit], "next_cursor": next_cursor}


@app.post("/items", status_code=201, response_model=schemas.ItemRead)
def create_item(data: schemas.ItemCreate) -> Any:
    sql = f"INSERT INTO items (title, description, sku) VALUES (%s, %s, %s) RETURNING {COLUMNS}"
    return write(sql, data.title, data.description, data.sku)


@app.patch("/items/{item_id}", response_model=schemas.ItemRead)
def update_item(item_id: ItemId, data: schemas.ItemUpdate) -> Any:
    sql = (
        "UPDATE items SET description = %s, updated_at = now(), version = version + 1"
        f" WHERE id = %s RETURNING {COLUMNS}"
    )
    item = write(sql, data.description, item_id)
    if item is None:
        raise HTTPException(404, f"Item {item_id} not found")
    return item
