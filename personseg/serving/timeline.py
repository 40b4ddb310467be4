"""Where one ``/v1/segment`` request's time went inside the app, stage by stage.

The stages add up to the route's time: reading the body, decoding and preprocessing, waiting for a
batch (the inference thread's wake-up, the wait for company, any batch before it), the model,
postprocessing and PNG encoding, the other hand-offs between the event loop, the worker pool and
the inference thread (a thread that has work to do but is not running yet), and ``other`` (the
route's own Python). ``/metrics`` sums them (``personseg_segment_stage_seconds``), so a load test
shows which stage a regression is in (``personseg bench serve``).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

STAGES = ("read", "decode", "handoff", "batch_wait", "model", "render", "other")


@dataclass
class Timeline:
    """Seconds per stage of one request, from the route's start (``time.perf_counter``)."""

    start: float = field(default_factory=time.perf_counter)
    seconds: dict[str, float] = field(default_factory=lambda: dict.fromkeys(STAGES, 0.0))

    def add(self, stage: str, seconds: float) -> None:
        """Count ``seconds`` towards ``stage`` (one of ``STAGES``)."""
        self.seconds[stage] += seconds

    def mark_read(self) -> None:
        """The body is in: everything since the start was reading it."""
        self.add("read", time.perf_counter() - self.start)

    def finish(self) -> dict[str, float]:
        """All stages, ``other`` being the route's time not in any named stage."""
        total = time.perf_counter() - self.start
        self.seconds["other"] = max(0.0, total - sum(v for k, v in self.seconds.items() if k != "other"))
        return dict(self.seconds)
