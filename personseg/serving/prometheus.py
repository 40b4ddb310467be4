"""Prometheus metrics for one server instance, in their own registry (tests run several servers).

Every label takes its values from a set fixed in code, never from what a client sends, so no request
can add a series: routes are labelled by their template (``/v2/models/{name}/infer``, or ``unmatched``),
methods outside ``METHODS`` become ``other``, statuses are the ones the app answers with and reasons
are error kinds named in code.
"""

from __future__ import annotations

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    Info,
    Summary,
    generate_latest,
)
from starlette.types import Scope

from personseg.serving.timeline import STAGES

CONTENT_TYPE = CONTENT_TYPE_LATEST

BATCH_SIZE = "personseg_batch_size"  # read back by the load test (``personseg.bench.scrape``)
INFERENCE_SECONDS = "personseg_inference_duration_seconds"
STAGE_SECONDS = "personseg_segment_stage_seconds"  # per stage of /v1/segment (``personseg.serving.timeline``)
REQUEST_SECONDS = "personseg_request_duration_seconds"
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
# RFC 9110 section 9 plus PATCH (RFC 5789); h11 accepts any token as a method, so anything else is "other".
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH"})


def route_of(scope: Scope) -> str:
    """The ``route`` label: the matched route's template, or ``unmatched``."""
    route = scope.get("route")
    return getattr(route, "path", "unmatched")


def method_label(method: str) -> str:
    """The ``method`` label: a standard method as itself, anything else ``other``."""
    return method if method in METHODS else "other"


class ServerMetrics:
    """Requests, errors, latency, batch sizes, queue depth, readiness and the served model."""

    def __init__(self, max_batch: int) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.requests = Counter("personseg_requests", "HTTP requests served", ["route", "method", "status"],
                                registry=r)
        self.errors = Counter("personseg_request_errors", "Requests that failed, by reason", ["route", "reason"],
                              registry=r)
        self.latency = Histogram(REQUEST_SECONDS, "Request latency, receipt to response",
                                 ["route"], buckets=LATENCY_BUCKETS, registry=r)
        self.batch_size = Histogram(BATCH_SIZE, "Images per inference call",
                                    buckets=tuple(range(1, max_batch + 1)), registry=r)
        self.inference = Histogram(INFERENCE_SECONDS, "Time of one batched inference call",
                                   buckets=LATENCY_BUCKETS, registry=r)
        self.images = Counter("personseg_images", "Images run through the model", registry=r)
        self.queue_depth = Gauge("personseg_queue_depth", "Images waiting for the inference thread", registry=r)
        self.in_flight = Gauge("personseg_images_in_flight", "Images admitted and not yet answered", registry=r)
        self.reserved = Gauge("personseg_reserved_bytes", "Memory reserved by requests in flight", registry=r)
        self.ready = Gauge("personseg_ready", "1 once the model is loaded and warmed up", registry=r)
        self.model = Info("personseg_model", "The model being served", registry=r)
        self.stages = Summary(STAGE_SECONDS, "Time of answered /v1/segment requests by stage, inside the app",
                              ["stage"], registry=r)
        for stage in STAGES:
            self.stages.labels(stage)

    def observe_stages(self, seconds: dict[str, float]) -> None:
        """Record where one answered ``/v1/segment`` request spent its time."""
        for stage, value in seconds.items():
            self.stages.labels(stage).observe(value)

    def observe_batch(self, size: int, seconds: float) -> None:
        """Record one inference call (called from the inference thread)."""
        self.batch_size.observe(size)
        self.inference.observe(seconds)
        self.images.inc(size)

    def render(self) -> bytes:
        """The text exposition format."""
        return generate_latest(self.registry)
