"""Every error a route raises becomes ``{"error": "..."}`` JSON with its status, counted by reason.

As KServe's Python server registers its exception handlers on the app (``kserve/errors.py``), so
routes raise and never build error responses themselves.
"""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from personseg.serving.admission import RETRY_AFTER_S
from personseg.serving.errors import InferenceFailed, RequestError
from personseg.serving.prometheus import ServerMetrics, route_of

LOGGED_CHARS = 300  # error messages may quote what the client sent; keep their log lines short

log = logging.getLogger(__name__)


def error_response(request: Request, metrics: ServerMetrics, status: int, message: str, reason: str) -> JSONResponse:
    """The JSON error, counted under ``reason``; 503 says when to retry, 408 closes the connection."""
    metrics.errors.labels(route_of(request.scope), reason).inc()
    headers = {"Retry-After": str(RETRY_AFTER_S)} if status == 503 else None  # busy or loading: come back
    if status == 408:
        headers = {"Connection": "close"}  # the rest of the body may still be on its way: do not read it
    return JSONResponse({"error": message}, status_code=status, headers=headers)


def add_error_handlers(app: FastAPI, metrics: ServerMetrics) -> None:
    """Map the server's errors, HTTP errors, validation errors and anything unexpected to JSON."""

    async def request_error(request: Request, exc: RequestError) -> JSONResponse:
        log.info("%s %s: %d %s", request.method, request.url.path, exc.status, str(exc)[:LOGGED_CHARS])
        return error_response(request, metrics, exc.status, str(exc), exc.kind)

    async def inference_failed(request: Request, exc: InferenceFailed) -> JSONResponse:
        return error_response(request, metrics, 500, str(exc), "inference")

    async def unexpected(request: Request, exc: Exception) -> JSONResponse:
        # Starlette still re-raises after this response so the traceback reaches the log.
        return error_response(request, metrics, 500, f"internal error: {type(exc).__name__}: {exc}", "internal")

    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        message = f"{request.method} {request.url.path}: {exc.detail}"
        return error_response(request, metrics, exc.status_code, message, f"http_{exc.status_code}")

    async def validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
        return error_response(request, metrics, 400, f"invalid request: {exc.errors()}", "bad_parameter")

    app.add_exception_handler(RequestError, request_error)
    app.add_exception_handler(InferenceFailed, inference_failed)
    app.add_exception_handler(Exception, unexpected)
    app.add_exception_handler(StarletteHTTPException, http_error)
    app.add_exception_handler(RequestValidationError, validation_error)
