"""The FastAPI application: the service's lifespan, the middleware, and the routes of each protocol.

Routes are grouped per protocol in their own modules, as KServe's Python server groups them
(``kserve/protocol/rest/server.py`` assembles ``v1_endpoints`` and ``v2_endpoints``): the Open
Inference Protocol v2 (``v2_endpoints``), ``/v1/segment`` (``segment_endpoints``), ``/metrics``
(``metrics_endpoints``), the page and the docs. Routes only move bytes; the work happens in
``SegmentationService`` and errors become ``{"error": ...}`` JSON (``error_handlers``). Nothing a
request carries is ever used as a path or URL.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

from fastapi import FastAPI

from personseg import __version__
from personseg.runtime import load_predictor
from personseg.serving import apidoc
from personseg.serving.error_handlers import add_error_handlers
from personseg.serving.guard import GuardMiddleware
from personseg.serving.metrics_endpoints import MetricsMiddleware, MetricsPortMiddleware, add_metrics_routes
from personseg.serving.model import Loader
from personseg.serving.page import add_page
from personseg.serving.segment_endpoints import add_segment_routes
from personseg.serving.service import SegmentationService
from personseg.serving.settings import ServeSettings
from personseg.serving.v2_endpoints import add_v2_routes

DESCRIPTION = ("Person segmentation: `/v1/segment` turns a photo into a mask, cutout or composite PNG; the "
               "KServe Open Inference Protocol v2 routes run the model on tensors. Errors are `{\"error\": ...}`.")


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
    add_error_handlers(app, metrics)
    add_v2_routes(app, service)
    add_segment_routes(app, service)
    add_metrics_routes(app, metrics)
    apidoc.add_docs(app)
    add_page(app, settings.name)
    return app
