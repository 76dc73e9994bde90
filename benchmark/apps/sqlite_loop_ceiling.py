"""The SQLite ceiling that reads one item in the event loop, as the sync SQLite service does:
a sqlite3 read on the loop, with no hand-off to a thread, is the most one process can serve.
Every other route is the thread-pool ceiling's (sqlite_ceiling.py)."""

from sqlite_ceiling import COLUMNS, create_item, list_items, one, update_item
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route


async def read_item(request: Request) -> Response:
    item = one(f"SELECT {COLUMNS} FROM items WHERE id = ?", int(request.path_params["item_id"]))
    return JSONResponse(item) if item else JSONResponse({"detail": "not found"}, 404)


app = Starlette(
    routes=[
        Route("/items", list_items, methods=["GET"]),
        Route("/items", create_item, methods=["POST"]),
        Route("/items/{item_id:int}", read_item, methods=["GET"]),
        Route("/items/{item_id:int}", update_item, methods=["PATCH"]),
    ]
)
