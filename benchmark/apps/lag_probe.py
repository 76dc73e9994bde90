"""The service (BENCH_PACKAGE's app) with a ticker in its event loop, to measure the loop's lag:
a task sleeps 1 ms over and over and notes how much later than that it wakes. Whatever holds the
loop (a commit, parsing a body) makes the ticker, and every other request, wait as long.
GET /_lag answers the ticks and the p99 and max of their lags, in milliseconds, since the last
GET /_lag."""

import asyncio
import importlib
import json
import os
import time
from typing import Any

service = importlib.import_module(f"{os.environ['BENCH_PACKAGE']}.main").app
TICK = 0.001  # seconds
lags: list[float] = []
ticker: list[asyncio.Task[None]] = []  # started with the first request, in the server's loop


async def tick() -> None:
    while True:
        started = time.perf_counter()
        await asyncio.sleep(TICK)
        lags.append(time.perf_counter() - started - TICK)


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] == "http" and not ticker:
        ticker.append(asyncio.get_running_loop().create_task(tick()))
    if scope["type"] != "http" or scope["path"] != "/_lag":
        await service(scope, receive, send)
        return
    measured = sorted(lags)
    lags.clear()
    p99 = measured[int(len(measured) * 0.99)] if measured else 0.0
    body = {"ticks": len(measured), "p99_ms": p99 * 1000, "max_ms": max(measured, default=0) * 1000}
    headers = [(b"content-type", b"application/json")]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": json.dumps(body).encode()})
