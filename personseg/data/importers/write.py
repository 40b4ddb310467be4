"""Write an importer's samples as our layout plus ``dataset.json``: complete or absent.

Pictures that need no resizing are copied byte for byte (a JPEG is not re-encoded), after a full
decode, so a truncated file is refused here and not in training; other pictures are re-encoded (PNG
at a fast compression level: the pixels are what matter). A picture whose EXIF orientation turns it is
compared with its annotation, and written, upright: the way datasets and serving read every picture
(``imageops.upright``). Masks and ignore maps are 0/255 PNGs, and
``ignore/<id>.png`` is written only where something is ignored. Images with no person pixel are dropped
unless ``keep_empty``, but are checked like the rest. A source split (e.g. VOC's train.txt / val.txt)
becomes ``split.json``, listing only images written; without one none is written and the hash split
applies. Groups (the source's, or ``group_by`` over ids) go into the card, so that split keeps a group in
one part. The card names the source by its folder or file name only, so the same data imported from
another place makes the same dataset, byte for byte.
"""

from __future__ import annotations

import logging
import re
import shutil
import tempfile
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from personseg.atomic import atomic_dir, check_output, write_json
from personseg.data.groups import group_of, group_pattern
from personseg.data.importers import importer
from personseg.data.importers.source import ImportOptions, Item
from personseg.data.split import SPLIT_FILE
from personseg.errors import UserError
from personseg.imageops import EXIF_ORIENTATION, to_rgb8, upright, upright_size

log = logging.getLogger(__name__)
CARD = "dataset.json"
COPIED_EXTS = (".jpg", ".jpeg", ".png")
PNG_LEVEL = 1  # zlib level for re-encoded pictures: ~3x faster than Pillow's 6, files within 10%


@dataclass(frozen=True)
class ImportResult:
    """Where the dataset went and what its card says."""

    out: str
    card: dict[str, object]


def import_dataset(fmt: str, src: str | Path, out: str, options: ImportOptions, force: bool = False) -> ImportResult:
    """Import ``src`` in format ``fmt`` to folder or s3:// prefix ``out``; nothing is written on error.

    An existing non-empty folder, or a different dataset at the prefix, is replaced only with ``force``.
    """
    if options.size is not None and options.size < 8:
        raise UserError(f"--size {options.size}: must be at least 8")
    if not 0 <= options.band_low < options.band_high <= 1:
        raise UserError(f"--band-low {options.band_low} / --band-high {options.band_high}: need 0 <= low < high <= 1")
    group_pattern(options.group_by)
    if not str(out).startswith("s3://"):
        _check_out(Path(out), [Path(src), *(p for p in (options.images, options.test_from, options.test_images) if p)])
        check_output(out, force)  # before reading the source, which may be large
        return ImportResult(str(out), _write(fmt, Path(src), Path(out), options, Path(out).name, force))
    from personseg.storage.datasets import push_dataset

    with tempfile.TemporaryDirectory(prefix="personseg-import-") as tmp:
        card = _write(fmt, Path(src), Path(tmp) / "dataset", options, str(out).rstrip("/").rsplit("/", 1)[-1])
        push_dataset(Path(tmp) / "dataset", str(out), overwrite=force,
                     replace_hint="import to a new prefix, or pass --force")
    return ImportResult(str(out), card)


def _check_out(out: Path, sources: list[Path]) -> None:
    """Refuse an output folder that is, or holds, one of the inputs: replacing it would destroy them."""
    target = out.resolve()
    for source in sources:
        resolved = source.resolve()
        if resolved == target or target in resolved.parents:
            raise UserError(f"output {out}: {'is' if resolved == target else 'contains'} the import source "
                            f"{source}; writing there would replace it (choose another output folder)")


def _write(fmt: str, src: Path, out: Path, options: ImportOptions, name: str,
           force: bool = False) -> dict[str, object]:
    if not src.exists():
        raise UserError(f"import source {src}: no such file or directory")
    source = importer(fmt).read(src, options)
    with atomic_dir(out, force) as tmp:
        for sub in ("images", "masks", "ignore"):
            (tmp / sub).mkdir()
        written, groups, counts = _write_items(source.items, tmp, options)
        if not written:
            raise UserError(f"import source {src}: no image with a person (--keep-empty keeps images without one)")
        if not counts.pop("with_person"):
            cls = repr(options.cls) if options.cls else "the default class"
            raise UserError(f"import source {src}: none of the {len(written)} images has a person pixel; is "
                            f"{cls} this source's person class? (--class picks another)")
        if not any((tmp / "ignore").iterdir()):
            (tmp / "ignore").rmdir()
        split = _split(source.split, written, src)
        if split is not None:
            write_json(tmp / SPLIT_FILE, split)
        card = {"name": name, "description": f"{fmt} annotations from {src.name} imported by personseg data import",
                "format": fmt, "source": src.name, "counts": counts,
                "size": f"long side at most {options.size}" if options.size else "original (not resized)",
                "split": "source" if split else "hash (no split.json)", "licence": source.licence,
                "options": {k: v.name if isinstance(v, Path) else v for k, v in asdict(options).items()}}
        if groups:
            card["groups"] = groups
        write_json(tmp / CARD, card)
    return card


def _write_items(items: Iterable[Item], out: Path, options: ImportOptions
                 ) -> tuple[list[str], dict[str, list[str]], dict[str, int]]:
    """Check every item and write those kept; their ids, their groups and the card's counts."""
    counts = {"images": 0, "with_ignore": 0, "skipped_empty": 0, "with_person": 0}
    seen: dict[str, str] = {}
    written: list[str] = []
    groups: dict[str, list[str]] = {}
    pattern = group_pattern(options.group_by)
    for item in items:
        if item.id in seen:
            raise UserError(f"{item.where}: duplicate image id {item.id!r} (ids are file names without "
                            f"extension; also {seen[item.id]})")
        seen[item.id] = item.where
        size = _check_size(item)
        has_person = bool(item.mask.any())
        if not has_person and not options.keep_empty:
            counts["skipped_empty"] += 1
            continue
        counts["with_ignore"] += _write_item(item, out, size, options.size)
        group = _group(item, pattern)
        if group is not None:
            groups.setdefault(group, []).append(item.id)
        written.append(item.id)
        counts["images"] += 1
        counts["with_person"] += has_person
    return written, groups, counts


def _group(item: Item, pattern: re.Pattern[str] | None) -> str | None:
    """The item's group: the one ``--group-by`` names in its id, else the source's."""
    return item.group if pattern is None else group_of(item.id, pattern, item.where)


def _check_size(item: Item) -> tuple[int, int]:
    """The picture's upright (width, height), checked against the annotation's maps (header only)."""
    image = item.image
    if isinstance(image, Path):
        try:
            with Image.open(image) as opened:
                width, height = upright_size(opened)
        except (UnidentifiedImageError, OSError) as exc:
            raise UserError(f"{image}: not a readable image ({exc})") from None
    else:
        width, height = image.size
    if item.mask.shape != (height, width) or (item.ignore is not None and item.ignore.shape != (height, width)):
        raise UserError(f"{item.where}: annotation is {item.mask.shape[1]}x{item.mask.shape[0]} but image {image} "
                        f"is {width}x{height}")
    return width, height


def _write_item(item: Item, out: Path, size: tuple[int, int], long_side: int | None) -> bool:
    """Write one sample's files; True when it has an ignore map."""
    image = item.image
    target = _target_size(*size, long_side)
    if isinstance(image, Path) and target == size and image.suffix.lower() in COPIED_EXTS and not _turned(image):
        _verify(image)
        shutil.copyfile(image, out / "images" / f"{item.id}{image.suffix.lower()}")
    else:
        _save_picture(image, out / "images" / f"{item.id}.{'jpg' if _is_jpeg(image) else 'png'}", target)
    _save_map(item.mask, out / "masks" / f"{item.id}.png", target)
    if item.ignore is not None and item.ignore.any():
        _save_map(item.ignore, out / "ignore" / f"{item.id}.png", target)
        return True
    return False


def _turned(path: Path) -> bool:
    """Whether the picture's EXIF orientation turns it (then it is written upright, not copied)."""
    with Image.open(path) as opened:
        return opened.getexif().get(EXIF_ORIENTATION, 1) not in (None, 1)


def _verify(path: Path) -> None:
    """Decode the whole file (a JPEG at 1/8 scale, which still reads every byte): a truncated one fails."""
    try:
        with Image.open(path) as opened:
            if opened.format == "JPEG":
                opened.draft("RGB", (max(1, opened.width // 8), max(1, opened.height // 8)))
            opened.load()
    except (UnidentifiedImageError, OSError) as exc:
        raise UserError(f"{path}: unreadable or truncated image ({exc})") from None


def _save_picture(image: Path | Image.Image, path: Path, target: tuple[int, int]) -> None:
    """Decode (if needed), resize bilinear and save; JPEG sources stay JPEG, anything else becomes PNG."""
    if isinstance(image, Path):
        try:
            with Image.open(image) as opened:
                picture = to_rgb8(upright(opened))
        except (UnidentifiedImageError, OSError) as exc:
            raise UserError(f"{image}: unreadable or truncated image ({exc})") from None
    else:
        picture = to_rgb8(image)
    if picture.size != target:
        picture = picture.resize(target, Image.BILINEAR, reducing_gap=2.0)
    picture.save(path, quality=95, compress_level=PNG_LEVEL)


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


def _split(split: dict[str, list[str]] | None, written: list[str], src: Path) -> dict[str, list[str]] | None:
    """The source's split restricted to the images written; None when it has no usable test part.

    An id the source puts in two parts is refused: ``split.json`` would be rejected later.
    """
    if split is None:
        return None
    kept_ids = set(written)
    part_of: dict[str, str] = {}
    kept: dict[str, list[str]] = {}
    for part, ids in split.items():
        kept[part] = []
        for i in ids:
            if i in part_of and part_of[i] != part:
                raise UserError(f"import source {src}: its split puts {i!r} in both {part_of[i]} and {part}")
            if i in kept_ids and i not in part_of:
                kept[part].append(i)
            part_of[i] = part
    if not kept.get("test"):
        log.warning("%s: the source split leaves no test image after import; writing no split.json "
                    "(the hash split applies)", src)
        return None
    return kept
