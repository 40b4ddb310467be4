"""PASCAL VOC layout (or any palette class map): ``SegmentationClass/<id>.png`` + ``JPEGImages/<id>.jpg``.

A class map holds one palette index per pixel: ``options.cls`` (default 15, VOC's person) becomes the
mask and 255 (VOC's void border around objects) becomes ignore. The map must be palette (mode P) or
greyscale (L): an RGB PNG has colours, not class indices, and is an error naming the file. Pictures
are matched by id whatever the case of their extension (``.JPG`` too). VOC's
``ImageSets/Segmentation/train.txt`` and ``val.txt`` become our train and test (VOC2012's test labels
are not public, so its val is the held-out part); where a ``test.txt`` exists too (VOC2007 published
its test labels), they are train, val and test.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from personseg.data.importers.source import ImportOptions, Item, Source
from personseg.errors import UserError

PERSON = 15
VOID = 255
CLASS_MODES = ("P", "L")
IMAGE_EXTS = (".jpg", ".jpeg", ".png")


def read(src: Path, options: ImportOptions) -> Source:
    """The class maps under ``src/SegmentationClass`` paired with ``src/JPEGImages``."""
    maps = src / "SegmentationClass"
    if not maps.is_dir():
        raise UserError(f"{src}: no SegmentationClass/ folder (expected SegmentationClass/*.png and JPEGImages/)")
    try:
        cls = PERSON if options.cls is None else int(options.cls)
    except ValueError:
        raise UserError(f"--class {options.cls!r}: --format voc takes a palette index (15 is person)") from None
    if not 0 <= cls < VOID:
        raise UserError(f"--class {cls}: a palette index in 0..254 (255 is void)")
    return Source(_items(src, sorted(maps.glob("*.png")), cls), split=_split(src))


def _items(src: Path, maps: list[Path], cls: int) -> Iterator[Item]:
    folder = src / "JPEGImages"
    found = sorted((p for p in folder.iterdir() if p.suffix.lower() in IMAGE_EXTS), reverse=True,
                   key=lambda p: (-IMAGE_EXTS.index(p.suffix.lower()), p.name)) if folder.is_dir() else []
    pictures = {p.stem: p for p in found}  # the last one wins: .jpg before .jpeg before .png
    for path in maps:
        classes = _class_map(path)
        image = pictures.get(path.stem)
        if image is None:
            raise UserError(f"{path}: no image {folder / path.stem}.jpg")
        yield Item(path.stem, image, classes == cls, classes == VOID, str(path))


def _class_map(path: Path) -> np.ndarray:
    try:
        with Image.open(path) as img:
            if img.mode not in CLASS_MODES:
                raise UserError(f"{path}: mode {img.mode}, expected a palette (P) PNG of class indices; an RGB "
                                "PNG holds colours, not classes (re-save it with its palette)")
            return np.asarray(img)
    except UnidentifiedImageError:
        raise UserError(f"{path}: not a readable image") from None
    except OSError as exc:
        raise UserError(f"{path}: unreadable or truncated image ({exc})") from None


def _split(src: Path) -> dict[str, list[str]] | None:
    """VOC's train.txt -> train, val.txt -> test (or val, beside a test.txt); None when they are absent."""
    sets = src / "ImageSets" / "Segmentation"
    if not (sets / "train.txt").is_file() or not (sets / "val.txt").is_file():
        return None
    if (sets / "test.txt").is_file():
        return {"train": _ids(sets / "train.txt"), "val": _ids(sets / "val.txt"), "test": _ids(sets / "test.txt")}
    return {"train": _ids(sets / "train.txt"), "test": _ids(sets / "val.txt")}


def _ids(path: Path) -> list[str]:
    return [line.split()[0] for line in path.read_text().splitlines() if line.strip()]
