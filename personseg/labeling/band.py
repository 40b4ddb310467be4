"""The confidence band: teacher probabilities -> person mask and ignore pixels (a pure function).

Teacher labels are only trusted where the teacher is confident; pixels in between are marked
ignore so a student is neither trained on nor scored against the teacher's guesses.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from personseg.errors import UserError

PERSON = 255
IGNORE = 255


@dataclass(frozen=True)
class Band:
    """Person where ``prob >= high``, background where ``prob <= low``, ignore strictly between.

    ``low == high`` is allowed and means no ignore pixels (a plain threshold at ``high``).
    """

    low: float = 0.3
    high: float = 0.7

    def __post_init__(self) -> None:
        """Reject bands that are empty or outside [0, 1], naming the flags."""
        if not (0.0 <= self.low <= self.high <= 1.0):
            raise UserError(
                f"confidence band --low {self.low} --high {self.high}: need 0 <= low <= high <= 1"
            )


def apply_band(prob: np.ndarray, band: Band) -> tuple[np.ndarray, np.ndarray]:
    """Split an HxW probability map into (mask, ignore), both uint8 HxW with values 0 or 255.

    Ignored pixels are background (0) in the mask, so a reader that ignores ``ignore/`` still
    gets a conservative mask.
    """
    prob = np.asarray(prob, dtype=np.float32)
    if prob.ndim != 2:
        raise ValueError(f"probabilities must be HxW, got shape {prob.shape}")
    if prob.size and (np.isnan(prob).any() or prob.min() < 0.0 or prob.max() > 1.0):
        raise ValueError("probabilities must be finite values in [0, 1]")
    person = prob >= band.high
    unsure = (prob > band.low) & ~person
    mask = np.where(person, PERSON, 0).astype(np.uint8)
    ignore = np.where(unsure, IGNORE, 0).astype(np.uint8)
    return mask, ignore
