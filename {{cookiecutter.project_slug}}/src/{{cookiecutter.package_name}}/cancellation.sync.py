"""A request that asyncio cancels, cancelled the AnyIO way instead: a sync route's thread goes on
when its request is cancelled, and its session must not end under it."""

import asyncio
from contextlib import suppress

from anyio import CancelScope
from starlette.types import ASGIApp, Receive, Scope, Send


class RoutesFinishFirst:
    """ASGI middleware: a request that asyncio itself cancels (`asyncio.timeout`) is cancelled
    the AnyIO way instead, which waits for its route's thread: its session is ended after the
    route, never under it (docs/sessions.md says why)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        cancel_scope = CancelScope()

        async def handle() -> None:
            with cancel_scope:
                await self.app(scope, receive, send)

        request = asyncio.ensure_future(handle())
        try:
            await asyncio.shield(request)  # the request's own error, if any, as it was raised
        except asyncio.CancelledError:
            cancel_scope.cancel()
            # Shielded: a cancel scope that cancelled the server's task would cancel it again at
            # every turn of the event loop while it waits, spinning the loop.
            with CancelScope(shield=True):
                while not request.done():  # however many times the server's task is cancelled
                    with suppress(asyncio.CancelledError):
                        await asyncio.wait([request])
            raise
