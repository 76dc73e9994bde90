"""The framework bound for SQLite with sync sessions: FastAPI, with the service's own
request and response models, over the sqlite3 module (the ceiling's queries, no ORM, no session)."""

import importlib
import os
from typing import Annotated, Any

from fastapi import FastAPI, HTTPException, Path, Query
from sqlite_ceiling import COLUMNS, one, page, write

schemas = importlib.import_module(f"{os.environ['BENCH_PACKAGE']}.schemas")
ItemId = Annotated[int, Path(ge=1, le=2**31 - 1)]
app = FastAPI()


# Like the service, it reads one item in the event loop, and does the rest in worker threads.
@app.get("/items/{item_id}", response_model=schemas.ItemRead)
async def read_item(item_id: ItemId) -> Any:
    item = one(f"SELECT {COLUMNS} FROM items WHERE id = ?", item_id)
    if item is None:
        raise HTTPException(404, f"Item {item_id} not found")
    return item


@app.get("/items", response_model=schemas.ItemPage)
def list_items(
    after: Annotated[int, Query(ge=0, le=2**31 - 1)] = 0,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
) -> Any:
    return page(limit, after)


@app.post("/items", status_code=201, response_model=schemas.ItemRead)
def create_item(data: schemas.ItemCreate) -> Any:
    sql = f"INSERT INTO items (title, description, sku) VALUES (?, ?, ?) RETURNING {COLUMNS}"
    return write(sql, data.title, data.description, data.sku)


@app.patch("/items/{item_id}", response_model=schemas.ItemRead)
def update_item(item_id: ItemId, data: schemas.ItemUpdate) -> Any:
    sql = (
        "UPDATE items SET description = ?, updated_at = CURRENT_TIMESTAMP, version = version + 1"
        " WHERE id = ?"
        f" RETURNING {COLUMNS}"
    )
    item = write(sql, data.description, item_id)
    if item is None:
        raise HTTPException(404, f"Item {item_id} not found")
    return item
