"""What every request passes through on its way in and out: it gets an id, which its log lines
and its response's X-Request-ID header carry; it leaves one line in the access log; an error
that nothing else handled is logged once, with its traceback, and answered with a 500; and a body
larger than MAX_BODY_SIZE is refused with a 413 as it streams in."""

import asyncio
import logging
import re
import secrets
import time

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from . import metrics
from .errors import problem
from .logs import REQUEST_ID

logger = logging.getLogger(__name__)
access_log = logging.getLogger(f"{__package__}.access")
# A client's X-Request-ID is kept when it is a short token of these characters (a UUID, a trace
# id, a load balancer's); any other is replaced, so that no header or log line repeats it.
_CLIENT_ID = re.compile(rb"[A-Za-z0-9._~:/+=@-]{1,128}")


class RequestLog:
    """ASGI middleware: the request's id, its access line (and, if `measured`, its metrics),
    and the 500 of last resort."""

    def __init__(self, app: ASGIApp, *, measured: bool = False) -> None:
        self.app = app
        self.measured = measured

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        request_id = _request_id(scope)
        status: int | None = None

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                header = (b"x-request-id", request_id.encode())
                message["headers"] = [*message.get("headers", ()), header]
            await send(message)

        token = REQUEST_ID.set(request_id)
        try:
            await self.app(scope, receive, send_with_id)
        except asyncio.CancelledError:
            if not scope["app"].state.stopping:
                raise
            # Cancelled by the server at its shutdown bound: the client is told so, rather than
            # given the 500 (and the traceback) the server answers a cancelled request with.
            asyncio.current_task().uncancel()  # type: ignore[union-attr]
            if status is None:
                await problem(503, "The service is stopping")(scope, receive, send_with_id)
        except Exception:
            # Not raised again: the server would log it a second time, without the id.
            logger.exception("Unexpected error")
            if status is None:
                response = problem(500, "An unexpected error occurred")
                await response(scope, receive, send_with_id)
        finally:
            # The path as the client sent it, percent-encoded, so that no line break reaches
            # the log; without the query string, which may hold what is not the log's.
            raw = scope.get("raw_path") or scope["path"].encode()
            path = raw.partition(b"?")[0].decode("latin-1")
            seconds = time.perf_counter() - started
            fields = {
                "method": scope["method"],
                "path": path,
                "status": status,
                "duration_ms": round(seconds * 1000, 2),
            }
            answer = status or "cancelled"  # no status: cancelled before it had an answer
            access_log.info("%s %s %s", scope["method"], path, answer, extra=fields)
            if self.measured and status:
                metrics.observe(scope, status, seconds)
            REQUEST_ID.reset(token)


class BodyLimit:
    """ASGI middleware: a request body over `max_size` bytes is a 413, before any of it is parsed:
    at once when its Content-Length says so, else at the first chunk past the limit. FastAPI's
    own `max_body_size` answers the first case with a plain-text 413 in place of any response,
    this service's problem body included."""

    def __init__(self, app: ASGIApp, *, max_size: int) -> None:
        self.app = app
        self.max_size = max_size
        self.detail = f"The request body is larger than the {max_size:,} bytes this service accepts"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        for name, value in scope["headers"]:
            if name == b"content-length" and value.isdigit() and int(value) > self.max_size:
                await problem(413, self.detail)(scope, receive, send)
                return
        received = 0

        async def receive_within_limit() -> Message:
            nonlocal received
            message = await receive()
            received += len(message.get("body", b""))
            if received > self.max_size:  # raised in the route, as it reads the body
                raise HTTPException(413, self.detail)
            return message

        await self.app(scope, receive_within_limit, send)


def _request_id(scope: Scope) -> str:
    for name, value in scope["headers"]:
        if name == b"x-request-id" and _CLIENT_ID.fullmatch(value):
            return str(value, "ascii")
    return secrets.token_hex(16)
