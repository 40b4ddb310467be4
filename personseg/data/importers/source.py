"""What every importer hands the writer: options in, samples (with their source split and licence) out."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image


@dataclass(frozen=True)
class ImportOptions:
    """Flags of ``personseg data import``; a format reads the ones that apply to it.

    ``cls`` None means the format's own default (COCO and Supervisely "person", VOC class 15).
    ``group_by`` is a regular expression over ids whose first group (or whole match) names the
    picture's group, e.g. the person in it; it overrides the groups a format finds itself.
    """

    cls: str | None = None
    min_area: int = 0
    size: int | None = None
    keep_empty: bool = False
    images: Path | None = None
    test_from: Path | None = None
    test_images: Path | None = None
    band_low: float = 0.1
    band_high: float = 0.9
    group_by: str | None = None


@dataclass(frozen=True)
class Item:
    """One imported sample: its picture (a file to copy, or decoded) and boolean (H, W) maps.

    ``where`` names the annotation the maps came from, so the writer's errors can point at it.
    ``group`` is what the source says the picture shares with others (COCO: its source photo), so an
    automatic split keeps a group in one part; None when the source says nothing.
    """

    id: str
    image: Path | Image.Image
    mask: np.ndarray
    ignore: np.ndarray | None
    where: str
    group: str | None = None


@dataclass
class Source:
    """A format's samples (read lazily), plus what it says about splits and licensing."""

    items: Iterator[Item]
    split: dict[str, list[str]] | None = None
    licence: object = None
