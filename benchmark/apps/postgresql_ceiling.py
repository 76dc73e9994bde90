"""The ceiling for the PostgreSQL variant: Starlette and an asyncpg pool, no validation, no ORM.
It answers the same requests with the same queries as the service."""

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import asyncpg
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

URL = os.environ["DATABASE_URL"]
POOL_SIZE = int(os.environ.get("POOL_SIZE", 20)) + int(os.environ.get("MAX_OVERFLOW", 0))
COLUMNS = "id, title, description, sku, created_at, updated_at, version"
pool: asyncpg.Pool


def jsonable(row: Any) -> dict[str, Any]:
    item = dict(row)
    item["created_at"] = item["created_at"].isoformat()
    item["updated_at"] = item["updated_at"].isoformat()
    return item


@asynccontextmanager
async def lifespan(_app: Starlette) -> AsyncIterator[None]:
    global pool
    pool = await asyncpg.create_pool(URL, min_size=POOL_SIZE, max_size=POOL_SIZE)
    yield
    await pool.close()


async def fetch_item(item_id: int) -> Any:
    return await pool.fetchrow(f"SELECT {COLUMNS} FROM items WHERE id = $1", item_id)


async def fetch_page(limit: int, after: int) -> dict[str, Any]:
    """The service's keyset page: the items after `after`, and one more to know if there is a
    next page."""
    sql = f"SELECT {COLUMNS} FROM items WHERE id > $1 ORDER BY id LIMIT $2"
    rows = await pool.fetch(sql, after, limit + 1)
    next_cursor = str(rows[limit - 1]["id"]) if len(rows) > limit else None
    return {"items": rows[:limit], "next_cursor": next_cursor}


async def insert_item(title: str, description: str | None, sku: str | None) -> Any:
    sql = f"INSERT INTO items (title, description, sku) VALUES ($1, $2, $3) RETURNING {COLUMNS}"
    return await pool.fetchrow(sql, title, description, sku)


async def patch_item(item_id: int, description: str | None) -> Any:
    sql = (
        "UPDATE items SET description = $1, updated_at = now(), version = version + 1"
        f" WHERE id = $2 RETURNING {COLUMNS}"
    )
    return await pool.fetchrow(sql, description, item_id)


async def read_item(request: Request) -> Response:
    row = await fetch_item(int(request.path_params["item_id"]))
    return JSONResponse(jsonable(row)) if row else JSONResponse({"detail": "not found"}, 404)


async def list_items(request: Request) -> Response:
    limit = int(request.query_params.get("limit", 20))
    after = int(request.query_params.get("after", 0))
    result = await fetch_page(limit, after)
    result["items"] = [jsonable(row) for row in result["items"]]
    return JSONResponse(result)


async def create_item(request: Request) -> Response:
    body = await request.json()
    row = await insert_item(body["title"], body.get("description"), body.get("sku"))
    return JSONResponse(jsonable(row), 201)


async def update_item(request: Request) -> Response:
    body = await request.json()
    row = await patch_item(int(request.path_params["item_id"]), body["description"])
    return JSONResponse(jsonable(row)) if row else JSONResponse({"detail": "not found"}, 404)


app = Starlette(
    lifespan=lifespan,
    routes=[
        Route("/items", list_items, methods=["GET"]),
        Route("/items", create_item, methods=["POST"]),
        Route("/items/{item_id:int}", read_item, methods=["GET"]),
        Route("/items/{item_id:int}", update_item, methods=["PATCH"]),
    ],
)
