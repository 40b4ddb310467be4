"""Image <-> model-tensor conversions shared by data loading and serving (numpy and Pillow only).

Images are letterboxed (resized keeping aspect, padded) rather than squashed, so people keep their
proportions; ``Box`` records where the picture sits so a mask can be mapped back exactly.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image

PAD_VALUE = 114  # neutral grey for letterbox padding


@dataclass(frozen=True)
class Box:
    """Where the resized picture sits inside the square model input."""

    left: int
    top: int
    width: int
    height: int


def fit_box(width: int, height: int, size: int) -> Box:
    """The letterbox placement of a ``width`` x ``height`` picture in a ``size`` square."""
    scale = size / max(width, height)
    w = max(1, round(width * scale))
    h = max(1, round(height * scale))
    return Box((size - w) // 2, (size - h) // 2, w, h)


def letterbox(
    image: Image.Image, size: int, resample: int = Image.BILINEAR, fill: int = PAD_VALUE
) -> tuple[Image.Image, Box]:
    """Resize ``image`` into a ``size`` square keeping its aspect ratio; return it and its box."""
    box = fit_box(image.width, image.height, size)
    canvas = Image.new(image.mode, (size, size), fill if image.mode == "L" else (fill,) * len(image.getbands()))
    canvas.paste(image.resize((box.width, box.height), resample), (box.left, box.top))
    return canvas, box


def to_input(image: Image.Image, size: int) -> tuple[np.ndarray, Box]:
    """An RGB picture as a (3, size, size) float32 array in [0, 1], plus its letterbox box."""
    boxed, box = letterbox(image.convert("RGB"), size)
    array = np.asarray(boxed, dtype=np.float32).transpose(2, 0, 1) / 255.0
    return np.ascontiguousarray(array), box


def sigmoid(logits: np.ndarray) -> np.ndarray:
    """Numerically stable logistic function."""
    return (1.0 / (1.0 + np.exp(-np.clip(logits, -60, 60)))).astype(np.float32)


def unletterbox(prob: np.ndarray, box: Box, width: int, height: int) -> np.ndarray:
    """Map a (size, size) probability map back to the original ``width`` x ``height``, soft edges kept."""
    crop = prob[box.top : box.top + box.height, box.left : box.left + box.width]
    img = Image.fromarray(np.clip(crop * 255.0, 0, 255).astype(np.uint8), mode="L")
    return np.asarray(img.resize((width, height), Image.BILINEAR), dtype=np.float32) / 255.0


def padding_mask(box: Box, size: int) -> np.ndarray:
    """(size, size) bool: True on the letterbox padding around ``box`` (not part of the picture)."""
    pad = np.ones((size, size), dtype=bool)
    pad[box.top : box.top + box.height, box.left : box.left + box.width] = False
    return pad
