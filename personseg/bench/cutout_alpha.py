"""How clean cutouts are, the pieces of ``benchmarks/cutout_alpha.py``.

Each photo goes through the server's own steps (``SegmentationModel``) and both alphas of
``personseg.serving.compose``; a photo's figures are the share of pixels far from the mask's edge whose
alpha is neither 0 nor 255, the opacity left on the background there, and each alpha's IoU.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from personseg.quality import IGNORE, iou
from personseg.serving import compose
from personseg.serving.model import SegmentationModel

ALPHAS = {"soft": compose.probability_image, "clean": compose.clean_alpha}


def edge_distance(mask: np.ndarray) -> np.ndarray:
    """Euclidean distance of every pixel to the nearest pixel of the other class (inf if there is none)."""
    from scipy.ndimage import distance_transform_edt

    if mask.all() or not mask.any():
        return np.full(mask.shape, np.inf)
    return np.where(mask, distance_transform_edt(mask), distance_transform_edt(~mask))


def truth_of(root: Path, name: str) -> np.ndarray:
    """The dataset's mask as 0/1 with ``IGNORE`` where its ignore map says so."""
    labels = (np.asarray(Image.open(root / "masks" / f"{name}.png").convert("L")) > 0).astype(np.uint8)
    ignore = root / "ignore" / f"{name}.png"
    if ignore.is_file():
        labels[np.asarray(Image.open(ignore).convert("L")) > 0] = IGNORE
    return labels


def measure(model: SegmentationModel, photo: Path, truth: np.ndarray, far: float) -> dict:
    """The figures of one photo for both alphas."""
    with Image.open(photo) as image:
        image.load()
        prepared = model.preprocess(image)
    prob = model.postprocess(model.predict(prepared.tensor[None])[0, 0], prepared)
    away = edge_distance(prob > compose.THRESHOLD) > far
    background = away & (prob <= compose.THRESHOLD)
    row: dict = {"photo": photo.stem, "pixels": int(prob.size), "far_pixels": int(away.sum())}
    for name, alpha_of in ALPHAS.items():
        alpha = np.asarray(alpha_of(prob))
        partial = (alpha > 0) & (alpha < 255)
        row[name] = {"partial_far": int((partial & away).sum()),
                     "background_opacity": float(alpha[background].mean() / 255) if background.any() else 0.0,
                     "iou": iou(alpha >= 128, truth)}
    return row


def pooled(rows: list[dict]) -> dict:
    """Over all photos: the partial share of far pixels, the mean background opacity and the mean IoU."""
    far = sum(r["far_pixels"] for r in rows)
    return {name: {"partial_far_share": sum(r[name]["partial_far"] for r in rows) / max(1, far),
                   "background_opacity": float(np.mean([r[name]["background_opacity"] for r in rows])),
                   "mean_iou": float(np.mean([r[name]["iou"] for r in rows]))} for name in ALPHAS}
