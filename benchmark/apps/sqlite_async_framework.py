"""The framework bound for SQLite with async sessions: FastAPI, with the service's own request
and response models, over aiosqlite (the ceiling's queries, no ORM, no session)."""

import asyncio
import importlib
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated, Any

import aiosqlite
from fastapi import FastAPI, HTTPException, Path, Query
from sqlite_ceiling import COLUMNS, PATH

schemas = importlib.import_module(f"{os.environ['BENCH_PACKAGE']}.schemas")
ItemId = Annotated[int, Path(ge=1, le=2**31 - 1)]
readers: asyncio.Queue[aiosqlite.Connection] = asyncio.Queue()
writer: aiosqlite.Connection
write_turn = asyncio.Lock()  # like the service, writes take turns in the event loop


async def connect() -> aiosqlite.Connection:
    connection = await aiosqlite.connect(PATH, isolation_level=None, timeout=5)
    connection.row_factory = aiosqlite.Row
    await connection.execute("PRAGMA journal_mode = WAL")
    await connection.execute("PRAGMA synchronous = NORMAL")
    return connection


@asynccontextmanager
async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
    global writer
    writer = await connect()
    for _ in range(int(os.environ.get("POOL_SIZE", 5))):  # a connection per request in flight
        readers.put_nowait(await connect())
    yield
    await writer.close()
    while not readers.empty():
        await readers.get_nowait().close()


async def read(sql: str, *parameters: Any) -> list[dict[str, Any]]:
    connection = await readers.get()
    try:
        return [dict(row) for row in await connection.execute_fetchall(sql, parameters)]
    finally:
        readers.put_nowait(connection)


async def write(sql: str, *parameters: Any) -> dict[str, Any] | None:
    async with write_turn:
        await writer.execute("BEGIN IMMEDIATE")
        try:
            rows = await writer.execute_fetchall(sql, parameters)
            await writer.execute("COMMIT")
        except BaseException:
            await writer.execute("ROLLBACK")
            raise
    return dict(rows[0]) if rows else None


app = FastAPI(lifespan=lifespan)


@app.get("/items/{item_id}", response_model=schemas.ItemRead)
async def read_item(item_id: ItemId) -> Any:
    items = await read(f"SELECT {COLUMNS} FROM items WHERE id = ?", item_id)
    if not items:
        raise HTTPException(404, f"Item {item_id} not found")
    return items[0]


@app.get("/items", response_model=schemas.ItemPage)
async def list_items(
    after: Annotated[int, Query(ge=0, le=2**31 - 1)] = 0,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
) -> Any:
    sql = f"SELECT {COLUMNS} FROM items WHERE id > ? ORDER BY id LIMIT ?"
    items = await read(sql, after, limit + 1)
    next_cursor = str(items[limit - 1]["id"]) if len(items) > limit else None
    return {"items": items[:limit], "next_cursor": next_cursor}


@app.post("/items", status_code=201, response_model=schemas.ItemRead)
async def create_item(data: schemas.ItemCreate) -> Any:
    sql = f"INSERT INTO items (title, description, sku) VALUES (?, ?, ?) RETURNING {COLUMNS}"
    return await write(sql, data.title, data.description, data.sku)


@app.patch("/items/{item_id}", response_model=schemas.ItemRead)
async def update_item(item_id: ItemId, data: schemas.ItemUpdate) -> Any:
    sql = (
        "UPDATE items SET description = ?, updated_at = CURRENT_TIMESTAMP, version = version + 1"
        " WHERE id = ?"
        f" RETURNING {COLUMNS}"
    )
    item = await write(sql, data.description, item_id)
    if item is None:
        raise HTTPException(404, f"Item {item_id} not found")
    return item
