"""Prometheus over HTTP: every response counted and timed, and ``/metrics`` answered on its own port.

The metrics port is kept off the Service, so what the server counts (and its model's URI) is not
published to every client; Prometheus scrapes the pod on that port, as KServe's runtimes expose
their metrics on a port of their own (``prometheus.kserve.io/port``).
"""

from __future__ import annotations

import time

from fastapi import FastAPI
from fastapi.responses import JSONResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from personseg.serving import apidoc
from personseg.serving.prometheus import CONTENT_TYPE, ServerMetrics, method_label, route_of

LOGGED_CHARS = 300  # a path quoted back in an error stays short


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
    """With a metrics port, ``/metrics`` is answered there and only there, and nothing else is."""

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


def add_metrics_routes(app: FastAPI, metrics: ServerMetrics) -> None:
    """Add ``GET /metrics`` (the Prometheus text format) to ``app``."""

    async def prometheus() -> Response:
        return Response(metrics.render(), media_type=CONTENT_TYPE)

    app.add_api_route("/metrics", prometheus, methods=["GET"], **apidoc.ROUTES["metrics"])
