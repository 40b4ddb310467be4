"""The datasets committed with the project (``datasets/demo``, ``real``, ``people``) and copying them out.

They were labelled once by a teacher (see ``scripts/build_demo_data.py``), so ``personseg data demo``
needs neither openpeople nor mediapipe: it copies, re-letterboxing only when another size is asked.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

from PIL import Image

from personseg.atomic import atomic_dir, write_json
from personseg.errors import UserError
from personseg.imageops import letterbox

WHICH = ("demo", "real", "people")
CARD = "dataset.json"
JPEG_QUALITY = 90


def datasets_root() -> Path:
    """``$PERSONSEG_DATASETS`` (set in the pipeline image), else ``datasets/`` beside the package."""
    env = os.environ.get("PERSONSEG_DATASETS")
    return Path(env) if env else Path(__file__).resolve().parents[2] / "datasets"


def committed_dataset(which: str) -> Path:
    """The folder of the committed dataset ``which`` (one of ``WHICH``)."""
    if which not in WHICH:
        raise UserError(f"--which {which!r}: expected one of {', '.join(WHICH)}")
    path = datasets_root() / which
    if not (path / CARD).is_file():
        raise UserError(f"committed dataset {which}: {path / CARD} is missing; is this a personseg checkout?")
    return path


def read_card(folder: Path) -> dict:
    """The dataset card (``dataset.json``) of ``folder``."""
    try:
        return json.loads((folder / CARD).read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise UserError(f"{folder / CARD}: cannot be read as JSON ({exc})") from None


def _resize_example(src: Path, dst: Path, size: int, kind: str) -> None:
    """Letterbox one image (bilinear) or label PNG (nearest; padding 0 in masks, 255 in ignore maps) to ``size``.

    An ignore map that loses all its pixels in the resize is not written, as the format asks.
    """
    with Image.open(src) as img:
        img.load()
        if kind == "images":
            out, _ = letterbox(img.convert("RGB"), size)
            options = {"quality": JPEG_QUALITY} if dst.suffix == ".jpg" else {}
            out.save(dst, **options)
            return
        # new letterbox padding is ignore, not background; masks pad with 0
        out, _ = letterbox(img.convert("L"), size, resample=Image.NEAREST, fill=255 if kind == "ignore" else 0)
    if kind == "ignore" and not out.getbbox():
        return
    out.save(dst, optimize=True)


def copy_dataset(src: Path, out: str | Path, size: int | None = None, force: bool = False) -> dict:
    """Copy the dataset at ``src`` to ``out``; letterbox every file to ``size`` if it differs.

    Returns the card written to ``out``; its ``size`` says what the files now are.
    """
    card = read_card(src)
    if size is not None and size < 16:
        raise UserError(f"--size {size}: must be at least 16")
    same = size is None or size == card.get("size")
    with atomic_dir(out, force) as tmp:
        for sub in ("images", "masks", "ignore"):
            if not (src / sub).is_dir():
                continue
            (tmp / sub).mkdir()
            for path in sorted((src / sub).iterdir()):
                if not path.is_file() or path.name.startswith("."):
                    continue
                if same:
                    shutil.copyfile(path, tmp / sub / path.name)
                else:
                    _resize_example(path, tmp / sub / path.name, size, sub)
        for extra in ("split.json", "README.md"):
            if (src / extra).is_file():
                shutil.copyfile(src / extra, tmp / extra)
        if not same:
            ignored = sum(1 for _ in (tmp / "ignore").iterdir()) if (tmp / "ignore").is_dir() else 0
            if (tmp / "ignore").is_dir() and not ignored:
                (tmp / "ignore").rmdir()
            counts = {**card.get("counts", {}), "with_ignore": ignored}
            card = {**card, "size": size, "resized_from": card.get("size"), "counts": counts}
        write_json(tmp / CARD, card)
    return card
