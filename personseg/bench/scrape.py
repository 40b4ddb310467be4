"""The server's own inference counters, read from its ``/metrics`` between two points of a load test.

Why: "the server reaches 0.75x of the bare model" does not say where the rest went. The inference
thread's counters split it three ways: the batches the server formed were smaller than the bare run's
(batching), the model ran slower inside the server than alone at that batch size (contention with HTTP,
decoding and the client for the same cores), or the inference thread sat idle waiting for images
(starvation). ``personseg.bench.serve`` reports each factor.

The per-stage sums of ``/v1/segment`` (``personseg.serving.timeline``) and the route's own time then say
where each request's time went: outside the app (HTTP, sockets, the client), or in which stage inside it.
"""

from __future__ import annotations

from dataclasses import dataclass

from prometheus_client.parser import text_string_to_metric_families

from personseg.errors import UserError
from personseg.serving.prometheus import BATCH_SIZE as BATCH
from personseg.serving.prometheus import INFERENCE_SECONDS as INFERENCE
from personseg.serving.prometheus import REQUEST_SECONDS, STAGE_SECONDS
from personseg.serving.timeline import STAGES

SEGMENT_ROUTE = "/v1/segment"


@dataclass(frozen=True)
class InferenceCounters:
    """Cumulative images, inference calls and seconds spent in the model since the server started."""

    images: float = 0.0
    batches: float = 0.0
    seconds: float = 0.0

    def __sub__(self, other: InferenceCounters) -> InferenceCounters:
        return InferenceCounters(self.images - other.images, self.batches - other.batches,
                                 self.seconds - other.seconds)


def parse_counters(text: str) -> InferenceCounters:
    """The batch-size and inference-time histograms' sums and counts from a Prometheus exposition."""
    found: dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        if family.name in (BATCH, INFERENCE):
            for sample in family.samples:
                if sample.name.endswith(("_sum", "_count")):
                    found[sample.name] = sample.value
    missing = [n for n in (f"{BATCH}_sum", f"{BATCH}_count", f"{INFERENCE}_sum") if n not in found]
    if missing:
        raise UserError(f"/metrics: no {', '.join(missing)} (is this a personseg server?)")
    return InferenceCounters(found[f"{BATCH}_sum"], found[f"{BATCH}_count"], found[f"{INFERENCE}_sum"])


@dataclass(frozen=True)
class SegmentCounters:
    """Cumulative ``/v1/segment`` time: the route's seconds and requests, and seconds per stage of answered ones."""

    route_seconds: float = 0.0
    route_requests: float = 0.0
    answered: float = 0.0
    stages: tuple[tuple[str, float], ...] = tuple((stage, 0.0) for stage in STAGES)

    def __sub__(self, other: SegmentCounters) -> SegmentCounters:
        theirs = dict(other.stages)
        return SegmentCounters(self.route_seconds - other.route_seconds, self.route_requests - other.route_requests,
                               self.answered - other.answered,
                               tuple((stage, value - theirs.get(stage, 0.0)) for stage, value in self.stages))

    def route_mean_ms(self) -> float:
        """Mean milliseconds per request inside the app (0 without requests)."""
        return 1000.0 * self.route_seconds / self.route_requests if self.route_requests else 0.0

    def stage_means_ms(self) -> dict[str, float]:
        """Mean milliseconds per answered request in each stage (empty without answers)."""
        return {stage: 1000.0 * value / self.answered for stage, value in self.stages} if self.answered else {}


def parse_segment_counters(text: str) -> SegmentCounters:
    """The ``/v1/segment`` route's latency sum and count and its per-stage sums from a Prometheus exposition."""
    route, stages, answered = {}, {}, set()
    for family in text_string_to_metric_families(text):
        if family.name == REQUEST_SECONDS:
            for sample in family.samples:
                if sample.labels.get("route") == SEGMENT_ROUTE and sample.name.endswith(("_sum", "_count")):
                    route[sample.name.rsplit("_", 1)[1]] = sample.value
        elif family.name == STAGE_SECONDS:
            for sample in family.samples:
                if sample.name.endswith("_sum"):
                    stages[sample.labels["stage"]] = sample.value
                elif sample.name.endswith("_count"):
                    answered.add(sample.value)
    if set(stages) != set(STAGES) or len(answered) != 1:
        raise UserError(f"/metrics: no consistent {STAGE_SECONDS} for the stages {', '.join(STAGES)} "
                        "(a personseg server of another version?)")
    return SegmentCounters(route.get("sum", 0.0), route.get("count", 0.0), answered.pop(),
                           tuple((stage, stages[stage]) for stage in STAGES))


async def read_counters(client, url: str) -> tuple[InferenceCounters, SegmentCounters]:
    """``parse_counters`` and ``parse_segment_counters`` of ``url``'s ``/metrics`` through an ``httpx.AsyncClient``."""
    response = await client.get(f"{url}/metrics")
    if response.status_code != 200:
        raise UserError(f"{url}/metrics: HTTP {response.status_code}")
    return parse_counters(response.text), parse_segment_counters(response.text)
