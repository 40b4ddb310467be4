"""Segmentation quality on numpy arrays: IoU, Dice and boundary F-score, skipping ignore pixels.

Scores are computed per image and averaged (the mean over images, as the published result reports);
an image where both prediction and truth are empty counts as a perfect 1.0.
"""

from __future__ import annotations

import math

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


def _radius(shape: tuple[int, ...], tolerance: float) -> int:
    """DAVIS ``db_eval_boundary``: ``tolerance`` pixels when >= 1, else ceil(tolerance x image diagonal)."""
    return int(tolerance) if tolerance >= 1 else max(1, math.ceil(tolerance * float(np.hypot(*shape))))


def _content(truth: np.ndarray) -> tuple[slice, slice]:
    """The rows and columns holding any labelled pixel, without the letterbox padding.

    Padding (whole unlabelled rows or columns at the borders) is outside the photograph, so its edge is
    the image border, not a contour.
    """
    rows, cols = np.flatnonzero(_valid(truth).any(axis=1)), np.flatnonzero(_valid(truth).any(axis=0))
    return slice(rows[0], rows[-1] + 1), slice(cols[0], cols[-1] + 1)


def boundary_f(pred: np.ndarray, truth: np.ndarray, tolerance: float = 0.008) -> float:
    """Boundary F-score (DAVIS, Cityscapes): contour precision and recall within a pixel tolerance.

    ``tolerance``: a fraction of the image diagonal (DAVIS's 0.008), or pixels when >= 1. Letterbox
    padding is cropped away first (``_content``). Other ``IGNORE`` pixels are unlabelled: any contour
    through them agrees with the labels, so they take the prediction's value (a perfect prediction whose
    edge lies in an ignore band scores 1.0), only contour pixels on labelled pixels are counted, and
    contours may match across ignore pixels. A side with no counted contour misses nothing (1.0 for it);
    no contour anywhere scores 1.0, a contour on one side only 0.0.
    """
    if not _valid(truth).any():
        return 1.0
    rows, cols = _content(truth)
    truth, pred = truth[rows, cols], pred.astype(bool)[rows, cols]
    valid = _valid(truth)
    filled = np.where(valid, truth == 1, pred)
    radius = _radius(truth.shape, tolerance)
    pb, tb = _boundary(pred), _boundary(filled)
    pb_counted, tb_counted = pb & valid, tb & valid
    if not pb_counted.any() and not tb_counted.any():
        return 1.0
    if not pb.any() or not tb.any():
        return 0.0
    precision = (np.count_nonzero(pb_counted & _dilate(tb, radius)) / np.count_nonzero(pb_counted)
                 if pb_counted.any() else 1.0)
    recall = (np.count_nonzero(tb_counted & _dilate(pb, radius)) / np.count_nonzero(tb_counted)
              if tb_counted.any() else 1.0)
    return 0.0 if precision + recall == 0 else 2 * precision * recall / (precision + recall)


def per_image_iou(preds: np.ndarray, truths: np.ndarray) -> list[float]:
    """IoU of each image, in order (what a paired comparison of two models resamples)."""
    return [float(iou(p, t)) for p, t in zip(preds, truths)]


class Tally:
    """Per-image scores gathered batch by batch, so a split is scored without holding it in memory."""

    def __init__(self, boundary: bool = True) -> None:
        self.per_image: dict[str, list[float]] = {"iou": [], "dice": [], **({"boundary_f": []} if boundary else {})}

    def add(self, preds: np.ndarray, truths: np.ndarray) -> None:
        """Score a batch of (N, H, W) masks against their truths."""
        scorers = {"iou": iou, "dice": dice, "boundary_f": boundary_f}
        for name, values in self.per_image.items():
            values.extend(scorers[name](p, t) for p, t in zip(preds, truths))

    def means(self) -> dict[str, float]:
        """The mean of each score over every image added."""
        return {name: float(np.mean(values)) for name, values in self.per_image.items()}


def mean_scores(preds: np.ndarray, truths: np.ndarray, boundary: bool = True) -> dict[str, float]:
    """Mean IoU, Dice and (optionally) boundary F over a batch of (N, H, W) masks."""
    tally = Tally(boundary)
    tally.add(preds, truths)
    return tally.means()


def agreement_ious(preds: np.ndarray, reference: np.ndarray, truths: np.ndarray | None = None) -> list[float]:
    """IoU of each of ``preds`` against another model's mask of the same image (see ``agreement_iou``)."""
    refs = [r.astype(np.uint8) for r in reference]
    if truths is not None:
        refs = [np.where(t == IGNORE, IGNORE, r).astype(np.uint8) for r, t in zip(refs, truths)]
    return [iou(p, r) for p, r in zip(preds, refs)]


def agreement_iou(preds: np.ndarray, reference: np.ndarray, truths: np.ndarray | None = None) -> float:
    """Mean IoU of ``preds`` against another model's masks (how far INT8 drifts from FP32).

    With ``truths``, their ``IGNORE`` pixels (ignore maps, letterbox padding) are skipped, so the
    figure covers the same pixels as IoU.
    """
    return float(np.mean(agreement_ious(preds, reference, truths)))
