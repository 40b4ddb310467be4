"""An ASGI middleware that watches each request's connection: a slow body, a client leaving, what it held.

- A body must arrive within ``body_timeout_s`` of the request's headers, else 408 and the connection
  is closed (a client that sent 15 MB of a declared 20 MB and stalled held that memory until it left).
- A client that closed its connection mid-request surfaced as a ``ClientDisconnect`` traceback and a
  500, and its image was still inferred. Once the body is in, a watcher task waits for the connection
  to close (uvicorn's ``receive`` returns ``http.disconnect`` then); if it closes before the answer is
  sent, the request's ``Ticket`` is left, which cancels its queued images. Whatever the route then
  raises is logged once at info level and counted as status 499, reason ``client_closed`` (the code
  nginx logs for a client that closed the connection first; the answer itself goes nowhere).
- What the request was admitted with (``personseg.serving.admission``) is released once its answer
  has been sent, or it failed.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from personseg.serving.errors import RequestError
from personseg.serving.prometheus import ServerMetrics, route_of
from personseg.serving.ticket import SCOPE_KEY, Ticket

CLIENT_CLOSED = 499

log = logging.getLogger(__name__)


class GuardMiddleware:
    """Gives every HTTP request a ``Ticket`` and turns a client's departure into one info line and a 499."""

    def __init__(self, app: ASGIApp, metrics: ServerMetrics, release: Callable[[Ticket], None],
                 body_timeout_s: float) -> None:
        self.app = app
        self.metrics = metrics
        self.release = release
        self.body_timeout_s = body_timeout_s

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Run the request with a watched ``receive``; absorb what fails because the client left."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        ticket = scope[SCOPE_KEY] = Ticket()
        start = time.perf_counter()
        state = {"body": False, "answered": False}
        body_deadline = start + self.body_timeout_s
        watcher: list[asyncio.Task] = []

        async def watch() -> None:
            message = await receive()  # returns once the client disconnects or the answer is complete
            if message["type"] == "http.disconnect" and not state["answered"]:
                ticket.leave()

        async def watched_receive() -> Message:
            if state["body"]:
                message = await receive()
            else:
                try:
                    message = await asyncio.wait_for(receive(), max(0.0, body_deadline - time.perf_counter()))
                except TimeoutError:
                    raise RequestError(f"request body not received within {self.body_timeout_s:g} s "
                                       "(PERSONSEG_BODY_TIMEOUT_S)", status=408, kind="body_timeout") from None
            if message["type"] == "http.disconnect":
                ticket.leave()
            elif not message.get("more_body", False) and not watcher:
                state["body"] = True
                watcher.append(asyncio.create_task(watch()))
            return message

        async def watched_send(message: Message) -> None:
            if message["type"] == "http.response.start" and ticket.gone:
                message = {**message, "status": CLIENT_CLOSED}  # uvicorn drops it; the metrics see 499
            elif message["type"] == "http.response.body" and not message.get("more_body", False):
                state["answered"] = not ticket.gone
            await send(message)

        try:
            await self.app(scope, watched_receive, watched_send)
        except Exception:
            if not ticket.gone:
                raise
            self._closed(scope, time.perf_counter() - start, "sending its body" if not state["body"] else
                         "waiting for its answer")
            await watched_send({"type": "http.response.start", "status": CLIENT_CLOSED, "headers": []})
        else:
            if ticket.gone and not state["answered"]:
                self._closed(scope, time.perf_counter() - start, "waiting for its answer")
        finally:
            for task in watcher:
                task.cancel()
            self.release(ticket)  # after the answer is sent: its bytes were held until then

    def _closed(self, scope: Scope, seconds: float, stage: str) -> None:
        log.info("%s %s: the client closed the connection after %.2f s while %s; its work was dropped",
                 scope["method"][:16], route_of(scope), seconds, stage)
        self.metrics.errors.labels(route_of(scope), "client_closed").inc()
