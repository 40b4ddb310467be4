"""A paired bootstrap of the per-image gain of one model over another on the same images.

"Better than production" on a handful of test images is noise unless the gain holds up when the images
are resampled: the gate deploys over production only when the lower bound of this interval is above 0.
The resampling is seeded, so the same two evaluations always give the same decision.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from personseg.errors import UserError

RESAMPLES = 2000
LEVEL = 0.95
SEED = 0


@dataclass(frozen=True)
class Interval:
    """Mean per-image gain and its two-sided bootstrap interval at ``level``."""

    gain: float
    low: float
    high: float
    images: int
    resamples: int
    level: float
    seed: int

    def to_dict(self) -> dict[str, Any]:
        """Plain data for JSON reports."""
        return asdict(self)


def paired_bootstrap(candidate: list[float], reference: list[float], resamples: int = RESAMPLES,
                     level: float = LEVEL, seed: int = SEED) -> Interval:
    """Gain of ``candidate`` over ``reference`` (per-image scores of the same images, in the same order)."""
    a, b = np.asarray(candidate, np.float64), np.asarray(reference, np.float64)
    if a.shape != b.shape or a.ndim != 1 or not len(a):
        raise UserError(f"paired bootstrap: needs per-image scores of the same images, got {len(a)} and {len(b)}")
    diff = a - b
    picks = np.random.default_rng(seed).integers(0, len(diff), size=(resamples, len(diff)))
    means = diff[picks].mean(axis=1)
    tail = (1 - level) / 2
    low, high = np.quantile(means, [tail, 1 - tail])
    return Interval(float(diff.mean()), float(low), float(high), len(diff), resamples, level, seed)
