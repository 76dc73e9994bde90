"""The framework bound for PostgreSQL with async sessions: FastAPI, with the service's own
request and response models, over an asyncpg pool (the ceiling's queries, no ORM, no session)."""

import importlib
import os
from typing import Annotated, Any

from fastapi import FastAPI, HTTPException, Path, Query
from postgresql_ceiling import fetch_item, fetch_page, insert_item, lifespan, patch_item

schemas = importlib.import_module(f"{os.environ['BENCH_PACKAGE']}.schemas")
ItemId = Annotated[int, Path(ge=1, le=2**31 - 1)]
app = FastAPI(lifespan=lifespan)


@app.get("/items/{item_id}", response_model=schemas.ItemRead)
async def read_item(item_id: ItemId) -> Any:
    row = await fetch_item(item_id)
    if row is None:
        raise HTTPException(404, f"Item {item_id} not found")
    return dict(row)


@app.get("/items", response_model=schemas.ItemPage)
async def list_items(
    after: Annotated[int, Query(ge=0, le=2**31 - 1)] = 0,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
) -> Any:
    result = await fetch_page(limit, after)
    result["items"] = [dict(row) for row in result["items"]]
    return result


@app.post("/items", status_code=201, response_model=schemas.ItemRead)
async def create_item(data: schemas.ItemCreate) -> Any:
    return dict(await insert_item(data.title, data.description, data.sku))


@app.patch("/items/{item_id}", response_model=schemas.ItemRead)
async def update_item(item_id: ItemId, data: schemas.ItemUpdate) -> Any:
    row = await patch_item(item_id, data.description)
    if row is None:
        raise HTTPException(404, f"Item {item_id} not found")
    return dict(row)
