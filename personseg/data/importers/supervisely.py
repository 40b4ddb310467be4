"""Supervisely projects: ``ann/<image name>.json`` beside ``img/<image name>``, in SRC or its dataset folders.

Objects of class ``options.cls`` (default "person") are drawn into the mask: ``bitmap`` objects (a
base64 PNG, zlib-compressed as the SDK writes it or plain, placed at ``origin`` [x, y]; its alpha, or
else its nonzero pixels) and
``polygon`` objects (``points.exterior`` filled, each of ``points.interior`` cut out as a hole; outline
pixels belong to the shape they outline, so a hole's outline is cut out too). Objects under ``min_area``
pixels become ignore. The class must be one the project's ``meta.json`` lists (or, without one, one that
some object has): a misspelt class would otherwise import every image as background. A project whose
datasets are named train / val / test keeps that split (val is the test part when there is no test,
as with VOC).
"""

from __future__ import annotations

import base64
import binascii
import io
import json
import zlib
from collections.abc import Iterator
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, UnidentifiedImageError

from personseg.data.importers.source import ImportOptions, Item, Source
from personseg.errors import UserError

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
PARTS = {"train": "train", "training": "train", "val": "val", "valid": "val", "validation": "val",
         "test": "test", "testing": "test"}


def read(src: Path, options: ImportOptions) -> Source:
    """Every ``ann/*.json`` under ``src`` (a dataset folder, or a project of them)."""
    datasets = [src] if (src / "ann").is_dir() else sorted(d for d in src.iterdir() if (d / "ann").is_dir())
    if not datasets:
        raise UserError(f"{src}: no ann/ folder (expected ann/*.json and img/, or dataset folders holding them)")
    cls = options.cls or "person"
    meta = (src.parent if (src / "ann").is_dir() else src) / "meta.json"
    known = _classes(meta) if meta.is_file() else None
    if known is not None and cls not in known:
        raise UserError(f"--class {cls!r}: {meta} lists no such class; known: {', '.join(known) or '(none)'}")
    files = {d.name: sorted((d / "ann").glob("*.json")) for d in datasets}
    items = _items([f for d in files.values() for f in d], cls, options.min_area)
    return Source(_checked(items, cls), split=_split(files))


def _classes(meta: Path) -> list[str]:
    try:
        classes = json.loads(meta.read_text())["classes"]
        return [str(c["title"]) for c in classes]
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise UserError(f"{meta}: not readable JSON ({exc})") from None
    except (KeyError, TypeError):
        raise UserError(f"{meta}: needs a 'classes' list of objects with a 'title'") from None


def _checked(items: Iterator[tuple[Item, set[str]]], cls: str) -> Iterator[Item]:
    """The items, then an error if no object of ``cls`` was found in any (the class names no object)."""
    seen: set[str] = set()
    for item, titles in items:
        seen |= titles
        yield item
    if cls not in seen:
        raise UserError(f"--class {cls!r}: no object of that class; the annotations have "
                        f"{', '.join(sorted(seen)) or 'no objects'}")


def _split(files: dict[str, list[Path]]) -> dict[str, list[str]] | None:
    """Datasets named train / val / test as split.json's parts; None unless every dataset is one."""
    if len(files) < 2 or not all(name.lower() in PARTS for name in files):
        return None
    split: dict[str, list[str]] = {}
    for name, anns in files.items():
        split.setdefault(PARTS[name.lower()], []).extend(Path(f.name[: -len(".json")]).stem for f in anns)
    if "test" not in split and "val" in split:
        split["test"] = split.pop("val")
    return split


def _items(files: list[Path], cls: str, min_area: int) -> Iterator[tuple[Item, set[str]]]:
    for path in files:
        image = path.parent.parent / "img" / path.name[: -len(".json")]
        if not image.is_file():
            raise UserError(f"{path}: no image {image}")
        try:
            ann = json.loads(path.read_text())
            height, width = int(ann["size"]["height"]), int(ann["size"]["width"])
            objects = ann["objects"]
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise UserError(f"{path}: not readable JSON ({exc})") from None
        except (KeyError, TypeError, ValueError):
            raise UserError(f"{path}: needs 'size' {{'height', 'width'}} and an 'objects' list") from None
        person = np.zeros((height, width), dtype=bool)
        ignore = np.zeros((height, width), dtype=bool)
        for n, obj in enumerate(objects):
            if not isinstance(obj, dict) or obj.get("classTitle") != cls:
                continue
            region = _draw(obj, height, width, f"{path}: objects[{n}]")
            (ignore if int(region.sum()) < min_area else person)[region] = True
        titles = {str(o.get("classTitle")) for o in objects if isinstance(o, dict)}
        yield Item(image.stem, image, person, ignore & ~person, str(path)), titles


def _draw(obj: dict, height: int, width: int, where: str) -> np.ndarray:
    kind = obj.get("geometryType")
    if kind == "bitmap":
        return _bitmap(obj.get("bitmap"), height, width, where)
    if kind == "polygon":
        return _polygon(obj.get("points"), height, width, where)
    raise UserError(f"{where}.geometryType {kind!r}: only bitmap and polygon objects are imported")


def _bitmap(bitmap: object, height: int, width: int, where: str) -> np.ndarray:
    if not isinstance(bitmap, dict) or "data" not in bitmap or "origin" not in bitmap:
        raise UserError(f"{where}.bitmap: needs 'data' and 'origin'")
    try:
        data = base64.b64decode(bitmap["data"], validate=True)
        png = data if data.startswith(PNG_SIGNATURE) else zlib.decompress(data)
        with Image.open(io.BytesIO(png)) as img:
            img.load()
            has_alpha = "A" in img.getbands() or "transparency" in img.info
            values = np.asarray(img.convert("RGBA"))[..., 3] if has_alpha else np.asarray(img.convert("L"))
    except (binascii.Error, TypeError, ValueError, zlib.error):
        raise UserError(f"{where}.bitmap.data: not base64 of a PNG (zlib-compressed or plain)") from None
    except (UnidentifiedImageError, OSError):
        raise UserError(f"{where}.bitmap.data: decompresses to something that is not a PNG") from None
    origin = bitmap["origin"]
    if not (isinstance(origin, list) and len(origin) == 2 and all(isinstance(v, int) and v >= 0 for v in origin)):
        raise UserError(f"{where}.bitmap.origin: expected [x, y], non-negative integers")
    x, y = origin
    h, w = values.shape
    if x + w > width or y + h > height:
        raise UserError(f"{where}.bitmap: {w}x{h} at origin [{x}, {y}] runs outside the {width}x{height} image")
    region = np.zeros((height, width), dtype=bool)
    region[y : y + h, x : x + w] = values > 0
    return region


def _polygon(points: object, height: int, width: int, where: str) -> np.ndarray:
    if not isinstance(points, dict) or "exterior" not in points:
        raise UserError(f"{where}.points: needs 'exterior' (and optional 'interior')")
    canvas = Image.new("1", (width, height), 0)
    draw = ImageDraw.Draw(canvas)
    draw.polygon(_ring(points["exterior"], f"{where}.points.exterior"), fill=1, outline=1)
    for k, hole in enumerate(points.get("interior") or []):
        draw.polygon(_ring(hole, f"{where}.points.interior[{k}]"), fill=0, outline=0)
    return np.asarray(canvas, dtype=bool)


def _ring(ring: object, where: str) -> list[tuple[float, float]]:
    ok = isinstance(ring, list) and all(
        isinstance(p, list) and len(p) == 2 and all(isinstance(v, (int, float)) for v in p) for p in ring)
    if not ok:
        raise UserError(f"{where}: expected a list of [x, y] points")
    if len(ring) < 3:
        raise UserError(f"{where}: a polygon needs at least 3 points; got {len(ring)}")
    return [(float(x), float(y)) for x, y in ring]
