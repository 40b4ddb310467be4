"""Temporal smoothing of a video's masks: an exponential moving average of per-pixel probabilities.

``smoothed_t = alpha * p_t + (1 - alpha) * smoothed_{t-1}`` at the model's input resolution, starting
from the first frame's probabilities. A still person's pixels near the decision boundary stop flipping
from frame to frame; a moving edge lags by about ``(1 - alpha) / alpha`` frames. ``alpha = 1`` is no
smoothing.
"""

from __future__ import annotations

import numpy as np

DEFAULT_ALPHA = 0.5


class Smoother:
    """The running average of one video's probability maps."""

    def __init__(self, alpha: float = DEFAULT_ALPHA) -> None:
        if not 0.0 < alpha <= 1.0:
            raise ValueError(f"smoothing alpha {alpha}: expected 0 < alpha <= 1 (1: no smoothing)")
        self.alpha = alpha
        self.state: np.ndarray | None = None

    def update(self, prob: np.ndarray) -> np.ndarray:
        """Fold the next frame's probabilities in; return the smoothed map."""
        if self.state is None or self.alpha == 1.0:
            self.state = prob.astype(np.float32, copy=True)
        else:
            self.state = self.alpha * prob + (1.0 - self.alpha) * self.state
        return self.state
