"""The FastAPI application: KServe Open Inference Protocol v2 routes, ``/v1/segment``, ``/metrics``, the page and docs.

Routes only move bytes and map errors to ``{"error": ...}`` JSON; the work happens in
``SegmentationService``. Nothing a request carries is ever used as a path or URL.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import AsyncIterator

from fastapi import FastAPI, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from personseg import __version__
from personseg.runtime import load_predictor
from personseg.serving import apidoc, oip
from personseg.serving.admission import JSON_BYTES_FACTOR, RETRY_AFTER_S
from personseg.serving.body import Upload, body_reservation, is_multipart, parse_multipart, read_body
from personseg.serving.errors import InferenceFailed, RequestError
from personseg.serving.guard import GuardMiddleware
from personseg.serving.metrics import CONTENT_TYPE, ServerMetrics, method_label, route_of
from personseg.serving.model import Loader
from personseg.serving.page import add_page
from personseg.serving.service import SegmentationService
from personseg.serving.settings import ServeSettings
from personseg.serving.ticket import ticket_of

MULTIPART_SLACK = 64 * 1024
DESCRIPTION = ("Person segmentation: `/v1/segment` turns a photo into a mask, cutout or composite PNG; the "
               "KServe Open Inference Protocol v2 routes run the model on tensors. Errors are `{\"error\": ...}`.")
LOGGED_CHARS = 300  # error messages may quote what the client sent; keep their log lines short

log = logging.getLogger(__name__)


class MetricsMiddleware:
    """Counts every HTTP response by route, method and status, and times it."""

    def __init__(self, app: ASGIApp, metrics: ServerMetrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Pass through, noting the status code on the way out."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = {"code": 500}

        async def send_wrapper(message: Message) -> None:
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            route = route_of(scope)
            self.metrics.requests.labels(route, method_label(scope["method"]), str(status["code"])).inc()
            self.metrics.latency.labels(route).observe(time.perf_counter() - start)


class MetricsPortMiddleware:
    """With a metrics port, ``/metrics`` is answered there and only there, and nothing else is.

    The metrics port is kept off the Service, so what the server counts (and its model's URI) is not
    published to every client; Prometheus scrapes the pod on that port, as KServe's runtimes expose
    their metrics on a port of their own (``prometheus.kserve.io/port``).
    """

    def __init__(self, app: ASGIApp, port: int) -> None:
        self.app = app
        self.port = port

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """404 for ``/metrics`` on the API port and for anything else on the metrics port."""
        if scope["type"] == "http" and self.port:
            on_metrics_port = (scope.get("server") or ("", 0))[1] == self.port
            if on_metrics_port != (scope["path"] == "/metrics"):
                where = "the metrics port" if on_metrics_port else "this port (metrics have their own)"
                response = JSONResponse({"error": f"{scope['path'][:LOGGED_CHARS]}: not served on {where}"}, 404)
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)


def _error(request: Request, metrics: ServerMetrics, status: int, message: str, reason: str) -> JSONResponse:
    metrics.errors.labels(route_of(request.scope), reason).inc()
    headers = {"Retry-After": str(RETRY_AFTER_S)} if status == 503 else None  # busy or loading: come back
    if status == 408:
        headers = {"Connection": "close"}  # the rest of the body may still be on its way: do not read it
    return JSONResponse({"error": message}, status_code=status, headers=headers)


def _check_name(service: SegmentationService, name: str) -> None:
    if name != service.settings.name:
        raise RequestError(f"model {name!r} not found; this server serves {service.settings.name!r}",
                           status=404, kind="unknown_model")


def create_app(settings: ServeSettings, loader: Loader = load_predictor) -> FastAPI:
    """Build the app for ``settings``; the model starts loading when the app starts up."""
    service = SegmentationService(settings, loader)
    metrics = service.metrics

    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        service.start()
        yield
        service.stop()

    app = FastAPI(title="personseg", version=__version__, lifespan=lifespan, docs_url=None, redoc_url=None,
                  openapi_url=apidoc.OPENAPI_URL, description=DESCRIPTION)
    app.state.service = service
    app.add_middleware(GuardMiddleware, metrics=metrics, release=service.admission.release,
                       body_timeout_s=settings.body_timeout_s)
    app.add_middleware(MetricsPortMiddleware, port=settings.metrics_port)
    app.add_middleware(MetricsMiddleware, metrics=metrics)  # added last, so outermost: it sees the guard's 499s

    @app.exception_handler(RequestError)
    async def request_error(request: Request, exc: RequestError) -> JSONResponse:
        log.info("%s %s: %d %s", request.method, request.url.path, exc.status, str(exc)[:LOGGED_CHARS])
        return _error(request, metrics, exc.status, str(exc), exc.kind)

    @app.exception_handler(InferenceFailed)
    async def inference_failed(request: Request, exc: InferenceFailed) -> JSONResponse:
        return _error(request, metrics, 500, str(exc), "inference")

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> JSONResponse:
        # Starlette still re-raises after this response so the traceback reaches the log.
        return _error(request, metrics, 500, f"internal error: {type(exc).__name__}: {exc}", "internal")

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        message = f"{request.method} {request.url.path}: {exc.detail}"
        return _error(request, metrics, exc.status_code, message, f"http_{exc.status_code}")

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
        return _error(request, metrics, 400, f"invalid request: {exc.errors()}", "bad_parameter")

    @app.get("/v2/health/live", **apidoc.ROUTES["live"])
    async def live() -> dict:
        return {"live": True}

    @app.get("/v2/health/ready", **apidoc.ROUTES["ready"])
    async def ready() -> JSONResponse:
        if service.ready:
            return JSONResponse({"ready": True})
        return JSONResponse({"ready": False, "error": service.load_error or "model is loading"}, status_code=503)

    @app.get("/v2", **apidoc.ROUTES["server_metadata"])
    async def server_metadata() -> dict:
        return oip.server_metadata()

    @app.get("/v2/models/{name}", **apidoc.ROUTES["model_metadata"])
    async def model_metadata(name: str) -> dict:
        _check_name(service, name)
        service.require_ready()
        return oip.model_metadata(name, service.model.version, service.model.image_size, service.model.info.kind,
                                  service.model.runtime_name)

    @app.get("/v2/models/{name}/ready", **apidoc.ROUTES["model_ready"])
    async def model_ready(name: str) -> JSONResponse:
        _check_name(service, name)
        return JSONResponse({"name": name, "ready": service.ready}, status_code=200 if service.ready else 503)

    @app.post("/v2/models/{name}/infer", **apidoc.ROUTES["infer"])
    async def infer(name: str, request: Request) -> Response:
        _check_name(service, name)
        ticket, limit = ticket_of(request.scope), service.infer_body_limit()
        service.admit(ticket, 1, body_reservation(request, limit) * JSON_BYTES_FACTOR)
        body = await read_body(request, limit, "max_batch images of JSON")
        return Response(await service.infer(body, ticket), media_type="application/json")

    @app.post("/v1/segment", **apidoc.ROUTES["segment"])
    async def segment(request: Request,
                      output: str | None = Query(None, **apidoc.SEGMENT_PARAMETERS["output"]),
                      background: str | None = Query(None, **apidoc.SEGMENT_PARAMETERS["background"]),
                      alpha: str | None = Query(None, **apidoc.SEGMENT_PARAMETERS["alpha"])) -> Response:
        ticket, multipart = ticket_of(request.scope), is_multipart(request)
        limit = 2 * settings.max_bytes + MULTIPART_SLACK if multipart else settings.max_bytes
        service.admit(ticket, 1, body_reservation(request, limit))
        if multipart:
            upload = await parse_multipart(request, await read_body(request, limit), settings.max_bytes)
        else:
            upload = Upload(await read_body(request, limit))
        return Response(await service.segment(upload, output, background, ticket, alpha), media_type="image/png")

    @app.get("/metrics", **apidoc.ROUTES["metrics"])
    async def prometheus() -> Response:
        return Response(metrics.render(), media_type=CONTENT_TYPE)

    apidoc.add_docs(app)
    add_page(app, settings.name)
    return app
