"""The SQLite ceiling that reads one item in the event loop, as the sync SQLite service does:
a sqlite3 read on the loop, with no hand-off to a thread, is the most one process can serve.
Every other route is the thread-pool ceiling's (sqlite_ceiling.py)."""

from sqlite_ceiling import COLUMNS, app_reading_with, one
from starlette.requests import Request
from starlette.responses import JSONResponse, Response


async def read_item(request: Request) -> Response:
    item = one(f"SELECT {COLUMNS} FROM items WHERE id = ?", int(request.path_params["item_id"]))
    return JSONResponse(item) if item else JSONResponse({"detail": "not found"}, 404)


app = app_reading_with(read_item)
