"""Latency of several predictors in one process, in interleaved rounds.

Warm-up first, then rounds that run every model once each, so drift in clock speed or background load
hits every model alike. Reports median, p90 and the spread (fastest, slowest round) in ms per batch.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from personseg.console.progress import clear as clear_progress
from personseg.console.progress import progress
from personseg.runtime import Predictor


@dataclass(frozen=True)
class Timing:
    """Per-batch latency statistics of one model."""

    median_ms: float
    p90_ms: float
    images_per_s: float
    rounds: int
    min_ms: float = 0.0
    max_ms: float = 0.0


def benchmark(predictors: list[Predictor], batch: np.ndarray, rounds: int = 10, warmup: int = 2) -> list[Timing]:
    """Time ``predictors`` on ``batch`` in interleaved rounds; one Timing per predictor, in order."""
    for p in predictors:
        for _ in range(warmup):
            p.logits(batch)
    samples: list[list[float]] = [[] for _ in predictors]
    for r in range(rounds):
        progress("timing round", r + 1, rounds, f"{len(predictors)} models")
        for i, p in enumerate(predictors):
            start = time.perf_counter()
            p.logits(batch)
            samples[i].append((time.perf_counter() - start) * 1000.0)
    clear_progress()
    out = []
    for times in samples:
        median = float(np.median(times))
        out.append(Timing(median, float(np.percentile(times, 90)), len(batch) * 1000.0 / median, rounds,
                          float(min(times)), float(max(times))))
    return out
