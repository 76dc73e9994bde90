{%- set interrupts = cookiecutter.database == "postgresql" and cookiecutter | session_style == "sync" -%}
"""Stopping in order: readiness fails from the moment the server is told to stop, and the engines
are disposed of only once the requests are done with their connections (see "Stopping" in
docs/operations.md)."""

import logging
import signal
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from types import FrameType
from typing import Any

from anyio import move_on_after, sleep{{ ", to_thread" if interrupts }}
from sqlalchemy.pool import QueuePool

logger = logging.getLogger(__name__)
# Seconds that the requests the server cancelled (at SHUTDOWN_TIMEOUT) have to roll back.
GRACE = 0.5


@contextmanager
def on_stop_signal(callback: Callable[[], None]) -> Iterator[None]:
    """Call `callback` when SIGTERM or SIGINT comes, then hand the signal on to the handler that
    was there: the server's, which stops it. Only the main thread gets signals: in any other
    (a test client's), this does nothing."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    signals = (signal.SIGTERM, signal.SIGINT)
    previous: dict[int, Any] = {number: signal.getsignal(number) for number in signals}

    def handle(number: int, frame: FrameType | None) -> None:
        callback()
        handler = previous[number]
        if callable(handler):
            handler(number, frame)
        else:  # the default action, or none: as if this handler had never been there
            signal.signal(number, handler or signal.SIG_DFL)
            signal.raise_signal(number)

    for number in previous:
        signal.signal(number, handle)
    try:
        yield
    finally:
        for number, handler in previous.items():
            if signal.getsignal(number) is handle:
                signal.signal(number, handler or signal.SIG_DFL)


{% if interrupts -%}
async def connections_returned(pools: Sequence[QueuePool], interrupt: Callable[[], None]) -> None:
    """Wait until no connection of `pools` is in use, for GRACE seconds at most, having first
    interrupted (`interrupt`, in a worker thread) the statements that the requests cancelled at
    the server's shutdown bound may be waiting in."""
{%- else -%}
async def connections_returned(pools: Sequence[QueuePool]) -> None:
    """Wait until no connection of `pools` is in use, for GRACE seconds at most: the requests
    cancelled at the server's shutdown bound roll back."""
{%- endif %}
    in_use = sum(pool.checkedout() for pool in pools)
    if not in_use:
        return
    logger.warning("Stopping with %d database connections in use: rolling them back", in_use)
{%- if interrupts %}
    await to_thread.run_sync(interrupt)
{%- endif %}
    with move_on_after(GRACE):
        while in_use:
            await sleep(0.01)
            in_use = sum(pool.checkedout() for pool in pools)
    if in_use:
        logger.error(
            "%d database connections still in use after %s seconds: stopping without them; "
            "the database rolls back what they had not committed",
            in_use,
            GRACE,
        )
