"""Segmentation quality on numpy arrays: IoU, Dice and boundary F-score, skipping ignore pixels.

Scores are computed per image and averaged (the mean over images, as the published result reports);
an image where both prediction and truth are empty counts as a perfect 1.0.
"""

from __future__ import annotations

import numpy as np

IGNORE = 255


def _valid(truth: np.ndarray) -> np.ndarray:
    return truth != IGNORE


def iou(pred: np.ndarray, truth: np.ndarray) -> float:
    """Intersection over union of the person class for one image (bool/0-1 pred, 0/1/255 truth)."""
    valid = _valid(truth)
    p, t = pred.astype(bool) & valid, (truth == 1) & valid
    union = np.count_nonzero(p | t)
    return 1.0 if union == 0 else np.count_nonzero(p & t) / union


def dice(pred: np.ndarray, truth: np.ndarray) -> float:
    """Dice coefficient of the person class for one image."""
    valid = _valid(truth)
    p, t = pred.astype(bool) & valid, (truth == 1) & valid
    total = np.count_nonzero(p) + np.count_nonzero(t)
    return 1.0 if total == 0 else 2 * np.count_nonzero(p & t) / total


def _boundary(mask: np.ndarray) -> np.ndarray:
    padded = np.pad(mask, 1, mode="edge")
    interior = mask.copy()
    for dy, dx in ((0, 1), (2, 1), (1, 0), (1, 2)):
        interior &= padded[dy : dy + mask.shape[0], dx : dx + mask.shape[1]]
    return mask & ~interior


def _dilate(mask: np.ndarray, radius: int) -> np.ndarray:
    out = mask.copy()
    padded = np.pad(mask, radius)
    h, w = mask.shape
    for dy in range(2 * radius + 1):
        for dx in range(2 * radius + 1):
            if (dy - radius) ** 2 + (dx - radius) ** 2 <= radius * radius:
                out |= padded[dy : dy + h, dx : dx + w]
    return out


def boundary_f(pred: np.ndarray, truth: np.ndarray, tolerance: float = 0.0075) -> float:
    """Boundary F-score: contour precision/recall within ``tolerance`` x image diagonal pixels."""
    valid = _valid(truth)
    radius = max(1, round(tolerance * float(np.hypot(*truth.shape))))
    pb = _boundary(pred.astype(bool)) & valid
    tb = _boundary(truth == 1) & valid
    if not pb.any() and not tb.any():
        return 1.0
    if not pb.any() or not tb.any():
        return 0.0
    precision = np.count_nonzero(pb & _dilate(tb, radius)) / np.count_nonzero(pb)
    recall = np.count_nonzero(tb & _dilate(pb, radius)) / np.count_nonzero(tb)
    return 0.0 if precision + recall == 0 else 2 * precision * recall / (precision + recall)


def mean_scores(preds: np.ndarray, truths: np.ndarray, boundary: bool = True) -> dict[str, float]:
    """Mean IoU, Dice and (optionally) boundary F over a batch of (N, H, W) masks."""
    scores = {
        "iou": float(np.mean([iou(p, t) for p, t in zip(preds, truths)])),
        "dice": float(np.mean([dice(p, t) for p, t in zip(preds, truths)])),
    }
    if boundary:
        scores["boundary_f"] = float(np.mean([boundary_f(p, t) for p, t in zip(preds, truths)]))
    return scores


def agreement_iou(preds: np.ndarray, reference: np.ndarray, truths: np.ndarray | None = None) -> float:
    """Mean IoU of ``preds`` against another model's masks (how far INT8 drifts from FP32).

    With ``truths``, their ``IGNORE`` pixels (ignore maps, letterbox padding) are skipped, so the
    figure covers the same pixels as IoU.
    """
    refs = [r.astype(np.uint8) for r in reference]
    if truths is not None:
        refs = [np.where(t == IGNORE, IGNORE, r).astype(np.uint8) for r, t in zip(refs, truths)]
    return float(np.mean([iou(p, r) for p, r in zip(preds, refs)]))
