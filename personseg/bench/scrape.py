"""The server's own inference counters, read from its ``/metrics`` between two points of a load test.

Why: "the server reaches 0.75x of the bare model" does not say where the rest went. The inference
thread's counters split it three ways: the batches the server formed were smaller than the bare run's
(batching), the model ran slower inside the server than alone at that batch size (contention with HTTP,
decoding and the client for the same cores), or the inference thread sat idle waiting for images
(starvation). ``personseg.bench.serve`` reports each factor.
"""

from __future__ import annotations

from dataclasses import dataclass

from prometheus_client.parser import text_string_to_metric_families

from personseg.errors import UserError
from personseg.serving.prometheus import BATCH_SIZE as BATCH
from personseg.serving.prometheus import INFERENCE_SECONDS as INFERENCE


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


async def read_counters(client, url: str) -> InferenceCounters:
    """``parse_counters`` of ``url``'s ``/metrics`` through an ``httpx.AsyncClient``."""
    response = await client.get(f"{url}/metrics")
    if response.status_code != 200:
        raise UserError(f"{url}/metrics: HTTP {response.status_code}")
    return parse_counters(response.text)
