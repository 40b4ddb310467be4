"""COCO instances JSON: every person instance of an image merged into one mask.

Polygons, uncompressed RLE (``counts`` a list) and compressed RLE (``counts`` a string) are decoded
with ``pycocotools.mask``. ``iscrowd`` regions and instances under ``min_area`` pixels become ignore,
not background: they are people, just not outlined one by one; so is the ``bbox`` of a person with an
empty ``segmentation`` (a box-only export). A pixel any kept instance covers stays person. Image files
are found under ``options.images`` (default: the JSON's folder) by ``file_name``. Each image is its own
group (``<json name>#<image id>``), the most COCO says about which pictures belong together. Without
``options.test_from`` no split is written (the hash split applies). The decoder's own checks are not
relied on: pycocotools decodes a compressed RLE whose runs fall short of the image into whatever memory
it was given, so the runs are summed here first.
"""

from __future__ import annotations

import itertools
import json
import math
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from personseg.data.importers.source import ImportOptions, Item, Source
from personseg.errors import UserError


def read(src: Path, options: ImportOptions) -> Source:
    """Index the JSON(s); masks are decoded lazily per image.

    With ``options.test_from`` (e.g. ``instances_val2017.json``) its images are imported too and
    ``split.json`` makes them test and SRC's images train: COCO's own split, kept held out.
    """
    try:
        from pycocotools import mask as coco_mask  # noqa: F401 - checked early, used in _decode
    except ImportError:
        raise UserError("--format coco needs pycocotools: pip install 'personseg[import]'") from None
    name, min_area = options.cls or "person", options.min_area
    train = _index(src, name, options.images or src.parent)
    if options.test_from is None:
        return Source(train.items(min_area), licence=train.licence)
    test = _index(options.test_from, name, options.test_images or options.test_from.parent)
    return Source(itertools.chain(train.items(min_area), test.items(min_area)),
                  split={"train": train.ids(), "test": test.ids()},
                  licence={"train": train.licence, "test": test.licence})


@dataclass(frozen=True)
class _Index:
    """One instances JSON: its images by id and the wanted category's annotations of each."""

    src: Path
    folder: Path
    by_id: dict[object, tuple[int, dict]]
    per_image: dict[object, list[tuple[int, dict]]]
    licence: object

    def ids(self) -> list[str]:
        return [Path(str(image["file_name"])).stem for _, image in self.by_id.values()]

    def items(self, min_area: int) -> Iterator[Item]:
        return _items(self.src, self.folder, self.by_id, self.per_image, min_area)


def _index(src: Path, name: str, folder: Path) -> _Index:
    if not src.is_file():
        raise UserError(f"{src}: --format coco takes the instances JSON file")
    try:
        data = json.loads(src.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise UserError(f"{src}: not readable JSON ({exc})") from None
    if not isinstance(data, dict):
        raise UserError(f"{src}: expected an object with 'images', 'annotations' and 'categories'")
    images = _list(data, "images", src)
    annotations = _list(data, "annotations", src)
    wanted = {c.get("id") for c in _list(data, "categories", src) if isinstance(c, dict) and c.get("name") == name}
    if not wanted:
        raise UserError(f"{src}: categories: no category named {name!r} (--class picks another)")
    by_id: dict[object, tuple[int, dict]] = {}
    for n, image in enumerate(images):
        for key in ("id", "file_name", "width", "height"):
            if not isinstance(image, dict) or key not in image:
                raise UserError(f"{src}: images[{n}]: missing '{key}'")
        if image["id"] in by_id:
            raise UserError(f"{src}: images[{n}].id {image['id']!r}: also the id of images[{by_id[image['id']][0]}]")
        by_id[image["id"]] = (n, image)
    per_image: dict[object, list[tuple[int, dict]]] = {}
    for n, ann in enumerate(annotations):
        if not isinstance(ann, dict) or "image_id" not in ann or "segmentation" not in ann:
            raise UserError(f"{src}: annotations[{n}]: missing 'image_id' or 'segmentation'")
        if ann["image_id"] not in by_id:
            raise UserError(f"{src}: annotations[{n}].image_id {ann['image_id']!r}: no such image in 'images'")
        if ann.get("category_id") in wanted:
            per_image.setdefault(ann["image_id"], []).append((n, ann))
    licence = {k: data[k] for k in ("info", "licenses") if k in data} or None
    return _Index(src, folder, by_id, per_image, licence)


def _list(data: dict, key: str, src: Path) -> list:
    value = data.get(key)
    if not isinstance(value, list):
        raise UserError(f"{src}: '{key}' must be a list")
    return value


def _items(src: Path, folder: Path, by_id: dict, per_image: dict, min_area: int) -> Iterator[Item]:
    for image_id, (n, image) in by_id.items():
        height, width = image["height"], image["width"]
        if not (isinstance(height, int) and isinstance(width, int) and height > 0 and width > 0):
            raise UserError(f"{src}: images[{n}]: 'width' and 'height' must be positive integers")
        path = folder / str(image["file_name"])
        if not path.is_file():
            raise UserError(f"{src}: images[{n}].file_name {image['file_name']!r}: no such file {path}")
        person = np.zeros((height, width), dtype=bool)
        ignore = np.zeros((height, width), dtype=bool)
        for k, ann in per_image.get(image_id, []):
            if ann["segmentation"] == []:
                ignore[_box(ann.get("bbox"), height, width, f"{src}: annotations[{k}]")] = True
                continue
            region = _decode(ann["segmentation"], height, width, f"{src}: annotations[{k}].segmentation")
            small = int(region.sum()) < min_area
            (ignore if ann.get("iscrowd") or small else person)[region] = True
        yield Item(path.stem, path, person, ignore & ~person, f"{src}: images[{n}]", group=f"{src.name}#{image_id}")


def _box(bbox: object, height: int, width: int, where: str) -> np.ndarray:
    """The pixels a COCO ``bbox`` [x, y, w, h] touches, for a person outlined by no more than a box."""
    if not (isinstance(bbox, list) and len(bbox) == 4 and all(isinstance(v, (int, float)) for v in bbox)
            and bbox[2] >= 0 and bbox[3] >= 0):
        raise UserError(f"{where}: 'segmentation' is empty and 'bbox' is not [x, y, width, height], so nothing "
                        "says where this person is")
    x, y, w, h = bbox
    region = np.zeros((height, width), dtype=bool)
    region[max(0, int(y)) : min(height, math.ceil(y + h)), max(0, int(x)) : min(width, math.ceil(x + w))] = True
    return region


def _decode(segm: object, height: int, width: int, where: str) -> np.ndarray:
    """A polygon list or an RLE dict as a boolean (height, width) map; malformed input names ``where``."""
    from pycocotools import mask as coco_mask

    if isinstance(segm, list):
        for p, poly in enumerate(segm):
            if not isinstance(poly, list) or not all(isinstance(v, (int, float)) for v in poly):
                raise UserError(f"{where}[{p}]: a polygon must be a list of numbers")
            if len(poly) < 6 or len(poly) % 2:
                raise UserError(f"{where}[{p}]: a polygon needs an even number of coordinates, at least 6 "
                                f"(3 points); got {len(poly)}")
        if not segm:
            return np.zeros((height, width), dtype=bool)
        rle = coco_mask.merge(coco_mask.frPyObjects(segm, height, width))
    elif isinstance(segm, dict) and "counts" in segm and "size" in segm:
        if list(segm["size"]) != [height, width]:
            raise UserError(f"{where}.size {segm['size']}: the image is [{height}, {width}] (height, width)")
        counts = segm["counts"]
        if isinstance(counts, list):
            if not all(isinstance(c, int) and c >= 0 for c in counts) or sum(counts) != height * width:
                raise UserError(f"{where}.counts: uncompressed RLE must be non-negative integers summing to "
                                f"{height * width} (height x width)")
            rle = coco_mask.frPyObjects(segm, height, width)
        elif isinstance(counts, str):
            total = _compressed_total(counts, f"{where}.counts")
            if total != height * width:
                raise UserError(f"{where}.counts: compressed RLE runs sum to {total}, not {height * width} "
                                "(height x width)")
            rle = {"size": [height, width], "counts": counts.encode()}
        else:
            raise UserError(f"{where}.counts: expected a list (RLE) or a string (compressed RLE)")
    else:
        raise UserError(f"{where}: expected a list of polygons or an RLE object with 'counts' and 'size'")
    try:
        decoded = coco_mask.decode(rle)
    except ValueError as exc:
        raise UserError(f"{where}.counts: not a valid compressed RLE ({exc})") from None
    if decoded.shape != (height, width):
        raise UserError(f"{where}.counts: RLE decodes to {decoded.shape[1]}x{decoded.shape[0]}, image is "
                        f"{width}x{height}")
    return decoded.astype(bool)


def _compressed_total(counts: str, where: str) -> int:
    """The sum of a compressed RLE's runs, read as pycocotools' ``rleFrString`` reads them.

    Each run is little-endian 5-bit groups (offset by 48, bit 0x20 = more follows, sign from 0x10 of
    the last); from the third run on, each is stored as the difference from the run two before.
    """
    runs: list[int] = []
    p = 0
    data = counts.encode()
    while p < len(data):
        value, shift, more = 0, 0, True
        while more:
            if p >= len(data):
                raise UserError(f"{where}: not a valid compressed RLE (it ends inside a run)")
            c = data[p] - 48
            if not 0 <= c < 64:
                raise UserError(f"{where}: not a valid compressed RLE (character {chr(data[p])!r})")
            value |= (c & 0x1F) << shift
            more = bool(c & 0x20)
            p += 1
            shift += 5
            if not more and c & 0x10:
                value |= -1 << shift
        if len(runs) > 2:
            value += runs[-2]
        if value < 0:
            raise UserError(f"{where}: not a valid compressed RLE (run {len(runs)} is {value})")
        runs.append(value)
    return sum(runs)
