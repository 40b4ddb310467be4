"""Write an importer's samples as our layout plus ``dataset.json``: complete or absent.

Pictures that need no resizing are copied byte for byte (a JPEG is not re-encoded); masks and ignore
maps are 0/255 PNGs, and ``ignore/<id>.png`` is written only where something is ignored. Images with no
person pixel are dropped unless ``keep_empty``. A source split (e.g. VOC's train.txt / val.txt) becomes
``split.json``; without one none is written and the hash split applies.
"""

from __future__ import annotations

import logging
import shutil
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from personseg.atomic import atomic_dir, write_json
from personseg.data.importers import importer
from personseg.data.importers.source import ImportOptions, Item
from personseg.data.split import SPLIT_FILE
from personseg.errors import UserError
from personseg.imageops import to_rgb8

log = logging.getLogger(__name__)
CARD = "dataset.json"
COPIED_EXTS = (".jpg", ".jpeg", ".png")


@dataclass(frozen=True)
class ImportResult:
    """Where the dataset went and what its card says."""

    out: str
    card: dict[str, object]


def import_dataset(fmt: str, src: str | Path, out: str, options: ImportOptions) -> ImportResult:
    """Import ``src`` in format ``fmt`` to folder or s3:// prefix ``out``; nothing is written on error."""
    if options.size is not None and options.size < 8:
        raise UserError(f"--size {options.size}: must be at least 8")
    if not 0 <= options.band_low < options.band_high <= 1:
        raise UserError(f"--band-low {options.band_low} / --band-high {options.band_high}: need 0 <= low < high <= 1")
    if not str(out).startswith("s3://"):
        return ImportResult(str(out), _write(fmt, Path(src), Path(out), options, Path(out).name))
    from personseg.storage.datasets import push_dataset

    with tempfile.TemporaryDirectory(prefix="personseg-import-") as tmp:
        card = _write(fmt, Path(src), Path(tmp) / "dataset", options, str(out).rstrip("/").rsplit("/", 1)[-1])
        push_dataset(Path(tmp) / "dataset", str(out))
    return ImportResult(str(out), card)


def _write(fmt: str, src: Path, out: Path, options: ImportOptions, name: str) -> dict[str, object]:
    if not src.exists():
        raise UserError(f"import source {src}: no such file or directory")
    source = importer(fmt).read(src, options)
    counts = {"images": 0, "with_ignore": 0, "skipped_empty": 0}
    written: set[str] = set()
    with atomic_dir(out) as tmp:
        for sub in ("images", "masks", "ignore"):
            (tmp / sub).mkdir()
        for item in source.items:
            if item.id in written:
                raise UserError(f"{item.where}: duplicate image id {item.id!r} (ids are file names without extension)")
            if not item.mask.any() and not options.keep_empty:
                counts["skipped_empty"] += 1
                continue
            has_ignore = _write_item(item, tmp, options.size)
            written.add(item.id)
            counts["images"] += 1
            counts["with_ignore"] += has_ignore
        if not written:
            raise UserError(f"import source {src}: no image with a person (--keep-empty keeps images without one)")
        if not any((tmp / "ignore").iterdir()):
            (tmp / "ignore").rmdir()
        split = _split(source.split, written, src)
        if split is not None:
            write_json(tmp / SPLIT_FILE, split)
        card = {"name": name, "description": f"{fmt} annotations from {src.name} imported by personseg data import",
                "format": fmt, "source": str(src.resolve()), "counts": counts,
                "size": f"long side at most {options.size}" if options.size else "original (not resized)",
                "split": "source" if split else "hash (no split.json)", "licence": source.licence,
                "options": {k: str(v) if isinstance(v, Path) else v for k, v in asdict(options).items()}}
        write_json(tmp / CARD, card)
    return card


def _write_item(item: Item, out: Path, size: int | None) -> bool:
    """Write one sample's files; True when it has an ignore map."""
    image = item.image
    if isinstance(image, Path):
        try:
            with Image.open(image) as opened:
                width, height = opened.size
        except (UnidentifiedImageError, OSError) as exc:
            raise UserError(f"{image}: not a readable image ({exc})") from None
    else:
        width, height = image.size
    if item.mask.shape != (height, width) or (item.ignore is not None and item.ignore.shape != (height, width)):
        raise UserError(f"{item.where}: annotation is {item.mask.shape[1]}x{item.mask.shape[0]} but image {image} "
                        f"is {width}x{height}")
    target = _target_size(width, height, size)
    if isinstance(image, Path) and target == (width, height) and image.suffix.lower() in COPIED_EXTS:
        shutil.copyfile(image, out / "images" / f"{item.id}{image.suffix.lower()}")
    else:
        _save_picture(image, out / "images" / f"{item.id}.{'jpg' if _is_jpeg(image) else 'png'}", target)
    _save_map(item.mask, out / "masks" / f"{item.id}.png", target)
    if item.ignore is not None and item.ignore.any():
        _save_map(item.ignore, out / "ignore" / f"{item.id}.png", target)
        return True
    return False


def _save_picture(image: Path | Image.Image, path: Path, target: tuple[int, int]) -> None:
    """Decode (if needed), resize bilinear and save; JPEG sources stay JPEG, anything else becomes PNG."""
    if isinstance(image, Path):
        with Image.open(image) as opened:
            picture = to_rgb8(opened)
    else:
        picture = to_rgb8(image)
    if picture.size != target:
        picture = picture.resize(target, Image.BILINEAR, reducing_gap=2.0)
    picture.save(path, quality=95)


def _is_jpeg(image: Path | Image.Image) -> bool:
    return isinstance(image, Path) and image.suffix.lower() in (".jpg", ".jpeg")


def _target_size(width: int, height: int, size: int | None) -> tuple[int, int]:
    """Downsize so the long side is ``size`` (aspect kept); never upsize."""
    if size is None or max(width, height) <= size:
        return width, height
    scale = size / max(width, height)
    return max(1, round(width * scale)), max(1, round(height * scale))


def _save_map(values: np.ndarray, path: Path, target: tuple[int, int]) -> None:
    img = Image.fromarray(np.where(values, 255, 0).astype(np.uint8), mode="L")
    if img.size != target:
        img = img.resize(target, Image.NEAREST)
    img.save(path, compress_level=1)


def _split(split: dict[str, list[str]] | None, written: set[str], src: Path) -> dict[str, list[str]] | None:
    """The source's split restricted to the images written; None when it has no usable test part."""
    if split is None:
        return None
    kept = {part: [i for i in ids if i in written] for part, ids in split.items()}
    if not kept.get("test"):
        log.warning("%s: the source split leaves no test image after import; writing no split.json "
                    "(the hash split applies)", src)
        return None
    return kept
