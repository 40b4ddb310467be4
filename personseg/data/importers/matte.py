"""Alpha mattes: RGBA images in SRC, or ``SRC/images/<id>`` with ``SRC/alpha/<id>.png`` (or ``mattes/``).

Person is alpha >= ``THRESHOLD``; the soft edge ``band_low`` < alpha < ``band_high`` also goes into the
ignore map, because a hard label there would be a guess (on load, ignore wins over person). An alpha
channel that holds one value everywhere carries no matte: an RGBA picture with one is refused (it would
be all person, or all background), and a matte file with one is read by its grey level instead (a
greyscale matte saved as LA or RGBA with an opaque alpha).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from personseg.data.importers import MATTE_THRESHOLD
from personseg.data.importers.source import ImportOptions, Item, Source
from personseg.errors import UserError
from personseg.imageops import WIDE_INT_MODES

IMAGE_EXTS = (".jpg", ".jpeg", ".png", ".webp")
MATTE_FOLDERS = ("alpha", "mattes", "matte")
THRESHOLD = MATTE_THRESHOLD


def read(src: Path, options: ImportOptions) -> Source:
    """Pairs of picture and matte (or RGBA pictures carrying their own)."""
    if not src.is_dir():
        raise UserError(f"{src}: --format matte takes a folder of RGBA images, or images/ with alpha/")
    mattes = next((src / m for m in MATTE_FOLDERS if (src / m).is_dir()), None)
    folder = src / "images" if mattes is not None else src
    if mattes is not None and not folder.is_dir():
        raise UserError(f"{src}: {mattes.name}/ found but no images/ folder beside it")
    pictures = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_EXTS)
    return Source(_items(pictures, mattes, options.band_low, options.band_high))


def _items(pictures: list[Path], mattes: Path | None, low: float, high: float) -> Iterator[Item]:
    for picture in pictures:
        if mattes is None:
            image = _open(picture)
            if "A" not in image.getbands():
                raise UserError(f"{picture}: mode {image.mode} has no alpha channel (give RGBA images, or "
                                "images/ with alpha/<id>.png)")
            alpha, where = np.asarray(image.getchannel("A"), dtype=np.float32) / 255, str(picture)
            if alpha.min() == alpha.max():
                raise UserError(f"{picture}: its alpha is {round(float(alpha[0, 0]) * 255)} everywhere, so it "
                                "holds no matte (give cut-outs, or images/ with alpha/<id>.png)")
            image = image.convert("RGB")
        else:
            matte = mattes / f"{picture.stem}.png"
            if not matte.is_file():
                raise UserError(f"{picture}: no matte {matte}")
            image, alpha, where = picture, _alpha(_open(matte)), str(matte)
        yield Item(picture.stem, image, alpha >= THRESHOLD, (alpha > low) & (alpha < high), where)


def _alpha(matte: Image.Image) -> np.ndarray:
    """A matte's values in [0, 1]: its alpha channel if that varies, else its grey level (16-bit scaled)."""
    if "A" in matte.getbands():
        alpha = np.asarray(matte.getchannel("A"), dtype=np.float32) / 255
        if alpha.min() != alpha.max():
            return alpha
        return np.asarray(matte.convert("RGB").convert("L"), dtype=np.float32) / 255
    if matte.mode in WIDE_INT_MODES:
        return np.asarray(matte, dtype=np.float32) / 65535
    return np.asarray(matte.convert("L"), dtype=np.float32) / 255


def _open(path: Path) -> Image.Image:
    try:
        with Image.open(path) as img:
            img.load()
            return img.copy()
    except UnidentifiedImageError:
        raise UserError(f"{path}: not a readable image") from None
    except OSError as exc:
        raise UserError(f"{path}: unreadable or truncated image ({exc})") from None
