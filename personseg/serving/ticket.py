"""What the server knows about one request in flight: its client still there, its queued images, what it holds.

A ``Ticket`` travels in the ASGI scope from ``personseg.serving.guard`` to the service. When the
client closes its connection, the guard calls ``leave``: the images the request queued for inference
are cancelled (the micro-batcher skips cancelled futures) and anything it had not queued yet is
never queued.
"""

from __future__ import annotations

from collections.abc import Iterable
from concurrent.futures import Future
from dataclasses import dataclass, field

from starlette.types import Scope

SCOPE_KEY = "personseg.ticket"


class ClientGone(Exception):
    """The client closed its connection before its answer was ready; the work for it is dropped."""


@dataclass
class Ticket:
    """One request's state shared between the guard (event loop) and the service."""

    gone: bool = False
    futures: list[Future] = field(default_factory=list)
    images: int = 0  # admitted images and reserved bytes (``personseg.serving.admission``)
    reserved: int = 0

    def check(self) -> None:
        """Raise ``ClientGone`` if the client has left (before starting work for it)."""
        if self.gone:
            raise ClientGone("the client closed the connection")

    def track(self, futures: Iterable[Future]) -> None:
        """Remember queued images so ``leave`` can cancel them; cancel at once if the client already left."""
        self.futures.extend(futures)
        if self.gone:
            self.leave()
            raise ClientGone("the client closed the connection")

    def leave(self) -> None:
        """The client is gone: cancel every image still waiting for inference."""
        self.gone = True
        for future in self.futures:
            future.cancel()


def ticket_of(scope: Scope) -> Ticket:
    """The request's ticket (a fresh one when the app runs without the guard, as in unit tests)."""
    return scope.get(SCOPE_KEY) or Ticket()
