"""Pseudo-label pictures into the standard dataset layout (images/, masks/, ignore/).

Used by ``personseg data label`` for a user's folder of photos and by the script that rebuilds
the committed demo and real datasets, so both write exactly the same format.
"""

from __future__ import annotations

import logging
import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from personseg.atomic import atomic_dir, write_json
from personseg.data.groups import group_of, group_pattern
from personseg.errors import UserError
from personseg.labeling.band import Band, apply_band
from personseg.labeling.teacher import Teacher

log = logging.getLogger(__name__)

PHOTO_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp", ".bmp")
EXIF_ORIENTATION = 0x0112


@dataclass(frozen=True)
class Labels:
    """One picture's pseudo-labels: uint8 HxW arrays with 0/255 values."""

    mask: np.ndarray
    ignore: np.ndarray

    @property
    def person_fraction(self) -> float:
        """Share of pixels labelled person."""
        return float((self.mask > 0).mean())

    @property
    def ignore_fraction(self) -> float:
        """Share of pixels the teacher was unsure about."""
        return float((self.ignore > 0).mean())


def label_image(teacher: Teacher, image: Image.Image, band: Band) -> Labels:
    """Run ``teacher`` on ``image`` and apply ``band``; checks the teacher kept the image size."""
    prob = np.asarray(teacher.probabilities(image), dtype=np.float32)
    if prob.shape != (image.height, image.width):
        raise ValueError(
            f"teacher {teacher.name} returned shape {prob.shape}, expected {(image.height, image.width)}"
        )
    mask, ignore = apply_band(prob, band)
    return Labels(mask, ignore)


def write_example(out: Path, example_id: str, labels: Labels) -> None:
    """Write masks/<id>.png and, only when it has ignore pixels, ignore/<id>.png."""
    (out / "masks").mkdir(parents=True, exist_ok=True)
    Image.fromarray(labels.mask, mode="L").save(out / "masks" / f"{example_id}.png", optimize=True)
    if labels.ignore.any():
        (out / "ignore").mkdir(parents=True, exist_ok=True)
        Image.fromarray(labels.ignore, mode="L").save(out / "ignore" / f"{example_id}.png", optimize=True)


def find_photos(folder: Path) -> dict[str, Path]:
    """``{id: path}`` for the photos in ``folder`` (or in ``folder/images`` when that exists)."""
    if not folder.is_dir():
        raise UserError(f"input {folder}: no such directory")
    source = folder / "images" if (folder / "images").is_dir() else folder
    photos: dict[str, Path] = {}
    skipped = []
    for path in sorted(source.iterdir()):
        if path.name.startswith(".") or not path.is_file():
            continue
        if path.suffix.lower() not in PHOTO_SUFFIXES:
            skipped.append(path.name)
            continue
        if path.stem in photos:
            other = photos[path.stem].name
            raise UserError(f"input {source}: {other} and {path.name} share the id {path.stem!r}")
        photos[path.stem] = path
    if skipped:
        log.warning("skipped %d file(s) in %s that are not photos (%s): %s",
                    len(skipped), source, "/".join(PHOTO_SUFFIXES), ", ".join(skipped[:5]))
    if not photos:
        raise UserError(f"input {source}: no photos ({', '.join(PHOTO_SUFFIXES)})")
    return photos


def open_photo(path: Path) -> Image.Image:
    """Open a photo fully (so truncation is caught here), upright per its EXIF orientation."""
    try:
        with Image.open(path) as img:
            img.load()
            upright = ImageOps.exif_transpose(img)
            return upright.convert("RGB") if upright.mode not in ("RGB", "L") else upright.copy()
    except (UnidentifiedImageError, OSError) as exc:
        raise UserError(f"photo {path}: cannot be read ({exc})") from None


def _store_photo(path: Path, image: Image.Image, images_dir: Path, example_id: str) -> str:
    """Keep JPEG/PNG bytes as they are when no rotation was needed; re-encode anything else as PNG."""
    suffix = path.suffix.lower()
    with Image.open(path) as original:
        rotated = original.getexif().get(EXIF_ORIENTATION, 1) not in (None, 1)
    if suffix in (".jpg", ".jpeg", ".png") and not rotated:
        name = f"{example_id}{'.png' if suffix == '.png' else '.jpg'}"
        shutil.copyfile(path, images_dir / name)
    else:
        name = f"{example_id}.png"
        image.save(images_dir / name)
    return name


@dataclass(frozen=True)
class LabelReport:
    """What ``label_folder`` wrote: counts and the mean person / ignore shares."""

    out: Path
    count: int
    with_ignore: int
    person_fraction: float
    ignore_fraction: float


def label_folder(teacher: Teacher, source: str | Path, out: str | Path, band: Band,
                 command: str = "", group_by: str | None = None, force: bool = False) -> LabelReport:
    """Pseudo-label every photo in ``source`` into a new dataset at ``out`` (complete or absent).

    Photos keep their size (the data loader letterboxes); ``dataset.json`` records the teacher,
    the band and that the masks are teacher labels, not human annotation, and with ``group_by``
    (a regular expression over ids) the groups the split keeps together.
    """
    photos = find_photos(Path(source))
    pattern = group_pattern(group_by)
    groups: dict[str, list[str]] = {}
    for example_id, path in photos.items():  # every id is checked before the teacher runs
        if pattern is not None:
            groups.setdefault(group_of(example_id, pattern, str(path)), []).append(example_id)
    person, unsure, with_ignore = [], [], 0
    with atomic_dir(out, force) as tmp:
        images_dir = tmp / "images"
        images_dir.mkdir()
        for example_id, path in photos.items():
            image = open_photo(path)
            labels = label_image(teacher, image, band)
            _store_photo(path, image, images_dir, example_id)
            write_example(tmp, example_id, labels)
            person.append(labels.person_fraction)
            unsure.append(labels.ignore_fraction)
            with_ignore += int(labels.ignore.any())
            log.info("%s: person %.1f%%, ignore %.1f%%", example_id,
                     100 * labels.person_fraction, 100 * labels.ignore_fraction)
        report = LabelReport(Path(out), len(photos), with_ignore,
                             float(np.mean(person)), float(np.mean(unsure)))
        write_json(tmp / "dataset.json", {
            "name": Path(out).name,
            "description": f"photos from {source} pseudo-labelled by a teacher segmenter",
            "labels": teacher_card(teacher, band),
            "size": "original (not resized)",
            "counts": {"images": report.count, "with_ignore": with_ignore},
            "person_fraction": round(report.person_fraction, 4),
            "ignore_fraction": round(report.ignore_fraction, 4),
            "built_with": command,
            **({"groups": groups} if groups else {}),
        })
    return report


def teacher_card(teacher: Teacher, band: Band) -> dict[str, object]:
    """The ``labels`` entry of a dataset card: who labelled, with which band, and what that means."""
    return {
        "kind": "teacher pseudo-labels (not human annotation)",
        "teacher": teacher.name,
        "teacher_model": getattr(teacher, "model", teacher.name),
        "teacher_version": getattr(teacher, "version", "unknown"),
        "low": band.low,
        "high": band.high,
        "rule": "person where p >= high; background where p <= low; ignore (255 in ignore/) in between",
    }
