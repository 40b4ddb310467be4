"""Video segmentation against known true masks, the pieces of ``benchmarks/segment_video.py``.

The photo a clip is made from, the frame-to-frame change of a mask sequence (flicker), and a clip's IoU
and flicker at one smoothing weight.
"""

from __future__ import annotations

import statistics
from pathlib import Path

import numpy as np
from PIL import Image

from personseg.quality import iou
from personseg.segment.engine import LocalEngine
from personseg.segment.smoothing import Smoother
from personseg.segment.video import smoothed_probabilities

ALPHAS = (1.0, 0.7, 0.5, 0.3)


def test_photo(data: Path, image_id: str | None) -> tuple[str, Image.Image, Image.Image]:
    """The named photo, else the first of the test split (else the first image)."""
    import json

    if image_id is None:
        split = data / "split.json"
        ids = json.loads(split.read_text()).get("test", []) if split.exists() else []
        image_id = ids[0] if ids else sorted(p.stem for p in (data / "images").iterdir())[0]
    image = next(p for p in (data / "images").iterdir() if p.stem == image_id)
    return image_id, Image.open(image).convert("RGB"), Image.open(data / "masks" / f"{image_id}.png")


def change(masks: list[np.ndarray]) -> float:
    """Mean share of pixels whose mask differs from the previous frame's."""
    return float(np.mean([np.mean(a != b) for a, b in zip(masks, masks[1:])]))


def measure(clip: Path, truth: list[np.ndarray], engine: LocalEngine, alpha: float) -> tuple[float, float, float]:
    """Mean and lowest IoU of ``clip``'s smoothed masks against ``truth``, and their frame-to-frame change."""
    import av

    with av.open(str(clip)) as container:
        frames = (f.to_image() for f in container.decode(video=0))
        masks = [prob >= 0.5 for _, prob in smoothed_probabilities(engine, frames, Smoother(alpha))]
    ious = [iou(m, t.astype(np.uint8)) for m, t in zip(masks, truth)]
    return statistics.mean(ious), min(ious), change(masks)
