"""Decode, check and resize a dataset into memory: images (N, S, S, 3) uint8, labels (N, S, S) uint8.

Labels hold 0 (background), 1 (person) and ``IGNORE`` (the ignore map and the letterbox padding).
Every picture is read upright (its EXIF orientation applied, as serving does: ``imageops.upright``).
Every problem names its file; which samples are usable follows ``personseg.data.checked``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from personseg.data import IGNORE
from personseg.data.checked import opened, usable_samples
from personseg.data.layout import Sample
from personseg.imageops import letterbox, to_mask8, to_rgb8, upright


@dataclass
class LoadedData:
    """A dataset held in memory at one size."""

    ids: list[str]
    images: np.ndarray
    labels: np.ndarray
    root: Path

    def subset(self, ids: list[str]) -> LoadedData:
        """The samples named by ``ids``, in that order."""
        index = {i: n for n, i in enumerate(self.ids)}
        rows = [index[i] for i in ids]
        return LoadedData(list(ids), self.images[rows], self.labels[rows], self.root)


def _open(path: Path, mode: str) -> Image.Image:
    """``mode`` "RGB" for images (16-bit scaled to 8), anything else for masks (zero/nonzero kept); upright."""
    with opened(path) as img:
        img.load()
        img = upright(img)
        return to_rgb8(img) if mode == "RGB" else to_mask8(img)


def _binary(mask: np.ndarray, path: Path) -> np.ndarray:
    values = np.unique(mask)
    if len(values) > 2 or (len(values) == 2 and values[0] != 0):
        shown = ", ".join(str(v) for v in values[:8]) + (", ..." if len(values) > 8 else "")
        raise ValueError(
            f"{path}: mask is not binary: found {len(values)} distinct values ({shown}); "
            "expected 0 for background and one nonzero value for person"
        )
    return (mask > 0).astype(np.uint8)


def load_sample(sample: Sample, size: int) -> tuple[np.ndarray, np.ndarray]:
    """One sample letterboxed to ``size``: (S, S, 3) uint8 image and (S, S) uint8 labels."""
    image = _open(sample.image, "RGB")
    mask_img = _open(sample.mask, "L")
    if mask_img.size != image.size:
        raise ValueError(f"{sample.mask}: mask is {mask_img.size[0]}x{mask_img.size[1]} but image is "
                         f"{image.size[0]}x{image.size[1]}")
    person = _binary(np.asarray(mask_img), sample.mask)
    labels = person.copy()
    if sample.ignore is not None:
        ignore_img = _open(sample.ignore, "L")
        if ignore_img.size != image.size:
            raise ValueError(f"{sample.ignore}: ignore map size differs from image {image.size}")
        labels[np.asarray(ignore_img) > 0] = IGNORE
    boxed, _ = letterbox(image, size)
    # the letterbox padding is not part of the photo: loss and every metric skip it
    label_img, _ = letterbox(Image.fromarray(labels, mode="L"), size, resample=Image.NEAREST, fill=IGNORE)
    return np.asarray(boxed, dtype=np.uint8), np.asarray(label_img, dtype=np.uint8)


def load_dataset(root: str | Path, size: int, skip_invalid: bool = False) -> LoadedData:
    """Load every sample under ``root`` at ``size``; problems raise (or are skipped and counted)."""
    root = Path(root)
    kept = usable_samples(root, lambda sample: load_sample(sample, size), skip_invalid)
    ids = [sample.id for sample, _ in kept]
    return LoadedData(ids, np.stack([image for _, (image, _) in kept]), np.stack([label for _, (_, label) in kept]),
                      root)
