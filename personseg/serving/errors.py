"""Request errors: a ``UserError`` that also knows its HTTP status and a short metric label."""

from __future__ import annotations

from personseg.errors import UserError


class RequestError(UserError):
    """A client's mistake; becomes ``{"error": message}`` with ``status`` (4xx)."""

    def __init__(self, message: str, status: int = 400, kind: str = "bad_request") -> None:
        super().__init__(message)
        self.status = status
        self.kind = kind


NOT_READY = "model is not ready yet (loading or warming up)"


class NotReady(RequestError):
    """The model is still loading (or failed to): 503 so load balancers try another replica."""

    def __init__(self, message: str = NOT_READY) -> None:
        super().__init__(message, status=503, kind="not_ready")


class InferenceFailed(Exception):
    """The runtime raised while running a batch: the server's fault, so 500."""
