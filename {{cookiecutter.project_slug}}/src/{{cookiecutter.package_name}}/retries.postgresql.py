"""Another try for a request whose transaction lost to a concurrent one. A deadlock (40P01) or
a serialization failure (40001) ends the request as any error does: its transaction rolled back,
its session closed, and the error handler's 409 made. Before that 409 is sent, the whole request
runs again, from its start, in a fresh session and transaction, with the body the first try
read; up to TRANSACTION_RETRIES times, each after a random pause, so that the transactions that
collided do not meet again. Only the last try's answer is sent."""

import asyncio
import logging
import random
from typing import Any

from sqlalchemy.exc import DBAPIError
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from . import dialect, metrics

logger = logging.getLogger(__name__)
# What the error handler sets in the request's state when the transaction lost such a race.
CONFLICT = "transaction_conflict"
# The longest pause before the first retry, in seconds, doubled before each next one; each
# pause is drawn at random up to it ("full jitter").
FIRST_PAUSE = 0.02
_WRITES = frozenset({"POST", "PUT", "PATCH", "DELETE"})


class RetryConflicts:
    """ASGI middleware: a write whose transaction lost to a concurrent one runs again, up to
    `retries` times. Inside BodyLimit, which bounds the body it keeps; outside the routes, so
    that each try's session is closed before the next begins."""

    def __init__(self, app: ASGIApp, *, retries: int, measured: bool = False) -> None:
        self.app = app
        self.retries = retries
        self.measured = measured

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] not in _WRITES:
            await self.app(scope, receive, send)
            return
        chunks: list[bytes] = []

        async def recorded() -> Message:
            message = await receive()
            chunks.append(message.get("body", b""))
            return message

        answer: Receive = recorded
        for tries in range(1, self.retries + 1):
            conflict = await self._once(scope, answer, send, last=False)
            if conflict is None:
                return
            if self.measured:
                metrics.retried(conflict)
            await asyncio.sleep(pause_before(tries, self.retries, conflict))
            answer = _replay(b"".join(chunks), receive)
        await self._once(scope, answer, send, last=True)

    async def _once(self, scope: Scope, receive: Receive, send: Send, *, last: bool) -> str | None:
        """Run the request once. If its transaction lost to a concurrent one and it is not the
        `last` try, hold its answer back and return the conflict's code."""
        state: dict[str, Any] = scope.setdefault("state", {})
        state.pop(CONFLICT, None)
        held_back = False

        async def send_unless_held_back(message: Message) -> None:
            nonlocal held_back
            if message["type"] == "http.response.start":
                held_back = CONFLICT in state and not last
            if not held_back:
                await send(message)

        await self.app(scope, receive, send_unless_held_back)
        return str(state[CONFLICT]) if held_back else None


def conflict(error: DBAPIError) -> str | None:
    """The code of the conflict with a concurrent transaction that `error` is, if it is one:
    a deadlock or a serialization failure, which another try may get past."""
    failure = dialect.transient_failure(error)
    return failure[0] if failure and failure[2] else None


def pause_before(tries: int, retries: int, conflict: str) -> float:
    """How long to pause before retry `tries` of `retries`: at random, below a bound that
    doubles with each try. The retry is logged."""
    pause = random.uniform(0, FIRST_PAUSE * 2 ** (tries - 1))
    logger.warning(
        "The transaction lost to a concurrent one (%s): retry %d of %d in %.0f ms",
        conflict,
        tries,
        retries,
        pause * 1000,
    )
    return pause


def _replay(body: bytes, receive: Receive) -> Receive:
    """The body the first try read, then the client's own messages (its disconnect)."""
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if sent:
            return await receive()
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    return replay
