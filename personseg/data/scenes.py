"""Background photos with nobody in them, for composites: ``--backgrounds scenes`` or a folder of a user's own.

Why: the generated and inpainted backgrounds of ``composite`` are still the training photos' rooms and
parks, or smooth textures; on real photographs the model marks a blue backdrop, a flag or a white wall as
person. Real scenes (streets, buildings, sky, fruit, graffiti, foliage) with people pasted onto them teach
that texture and colour alone do not make a person. ``scenes`` is the committed set
(``datasets/scenes``: 25 people-free photos from Debian's opencv-doc, none of the held-out real photos);
a folder of photos of the user's own settings (an office, a shop floor) is the stronger choice, local or
under an ``s3://`` prefix (downloaded once into the verified cache, as datasets are, so a pipeline's
train step and every TrainJob node read the same photos).

A draw is a random square crop (30-100 % of the shorter side) of a random photo, flipped half the time
and resized to the sample's size, all chosen by the sample's generator, so a composite is the same on any
worker or rank. Photos are decoded once per process, shrunk to fit ``MAX_SIDE`` (at most ``CACHE``
of them kept, least recently used dropped).
"""

from __future__ import annotations

from collections import OrderedDict
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image, UnidentifiedImageError

from personseg.data.photometric import randint
from personseg.errors import UserError
from personseg.imageops import upright
from personseg.uris import is_remote, local_dataset

STOCK = "scenes"  # --backgrounds value naming the committed set
SUFFIXES = (".jpg", ".jpeg", ".png", ".webp", ".bmp")
MAX_SIDE = 512  # photos are shrunk to fit a MAX_SIDE square: crops are resized to 128-256 px anyway
CACHE = 64  # decoded photos kept per process
MIN_CROP = 0.3  # smallest crop side, as a fraction of the photo's shorter side
Sample = tuple[torch.Tensor, torch.Tensor]


def resolve_backgrounds(spec: str) -> Path | None:
    """The local folder of the background photos ``spec`` names (None for "").

    ``scenes``: the committed set; ``s3://...``: fetched into the cache; else a path. A dataset folder
    (with ``images/``) is read from its ``images/``.
    """
    if not spec:
        return None
    if is_remote(spec):
        path = local_dataset(spec)  # raises naming the prefix when nothing is under it
    elif spec == STOCK:
        from personseg.labeling.committed import datasets_root

        path = datasets_root() / STOCK
        if not path.is_dir():
            raise UserError(f"--backgrounds {STOCK}: {path} is missing; is this a personseg checkout "
                            "(or set PERSONSEG_DATASETS)?")
    else:
        path = Path(spec)
        if not path.is_dir():
            raise UserError(f"--backgrounds {spec}: no such directory (give a folder or s3:// prefix of photos "
                            f"with nobody in them, or '{STOCK}')")
    return path / "images" if (path / "images").is_dir() else path


def list_photos(folder: Path) -> list[Path]:
    """The photos in ``folder`` (sorted, so every rank draws from the same list), each checked to open.

    Opening reads the header only, so this stays cheap for a large folder.
    """
    files = sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in SUFFIXES)
    if not files:
        raise UserError(f"--backgrounds {folder}: no {'/'.join(SUFFIXES)} files")
    for path in files:
        try:
            Image.open(path).close()
        except (OSError, UnidentifiedImageError) as exc:
            raise UserError(f"--backgrounds {path}: not a readable image ({exc})") from None
    return files


def backgrounds_fingerprint(spec: str) -> str:
    """sha256 of the photos ``spec`` names ("" for none): a retrain follows changed photos, not just a new name.

    An ``s3://`` prefix is fingerprinted from its listing (keys, sizes, ETags), without a download.
    """
    if not spec:
        return ""
    if is_remote(spec):
        from personseg.data.fingerprint import dataset_fingerprint

        return dataset_fingerprint(spec)  # a prefix is fingerprinted as a dataset's is
    from personseg.hashing import tree_sha256

    return tree_sha256(resolve_backgrounds(spec))


def check_backgrounds(spec: str) -> None:
    """Fail now, naming the folder or photo, if ``spec`` cannot serve as ``--backgrounds``."""
    if folder := resolve_backgrounds(spec):
        list_photos(folder)


class Scenes:
    """Random crops of the photos in one folder (module docstring)."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.files = list_photos(folder)
        self._decoded: OrderedDict[int, torch.Tensor] = OrderedDict()

    def _photo(self, index: int) -> torch.Tensor:
        """Photo ``index`` as (3, H, W) uint8, shrunk to fit ``MAX_SIDE``; decoded once per process."""
        if index in self._decoded:
            self._decoded.move_to_end(index)
            return self._decoded[index]
        path = self.files[index]
        try:
            with Image.open(path) as img:
                img.draft("RGB", (MAX_SIDE, MAX_SIDE))  # JPEG: decode at a reduced scale when it is large
                rgb = upright(img).convert("RGB")
        except (OSError, UnidentifiedImageError) as exc:
            raise UserError(f"--backgrounds {path}: cannot be decoded ({exc})") from None
        rgb.thumbnail((MAX_SIDE, MAX_SIDE))
        self._decoded[index] = torch.from_numpy(np.array(rgb)).permute(2, 0, 1).contiguous()
        if len(self._decoded) > CACHE:
            self._decoded.popitem(last=False)
        return self._decoded[index]

    def draw(self, size: int, gen: torch.Generator) -> Sample:
        """A ``size`` x ``size`` background (image in [0, 1], labels all background) chosen by ``gen``."""
        photo = self._photo(randint(gen, 0, len(self.files) - 1))
        h, w = photo.shape[1:]
        short = min(h, w)
        side = randint(gen, max(1, int(short * MIN_CROP)), short)
        top, left = randint(gen, 0, h - side), randint(gen, 0, w - side)
        crop = photo[:, top:top + side, left:left + side].float() / 255
        if torch.rand(1, generator=gen).item() < 0.5:
            crop = crop.flip(-1)
        crop = F.interpolate(crop[None], size=(size, size), mode="bilinear", align_corners=False, antialias=True)[0]
        return crop.clamp(0, 1), torch.zeros(1, size, size, dtype=torch.uint8)
