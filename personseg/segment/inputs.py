"""What ``segment`` reads: files, folders (recursively) and ``s3://`` prefixes, each image with its output name.

Every input becomes a ``Source``: a display name, the relative path its output takes under ``--out`` and a
way to read its bytes. Reading happens only when the image's batch runs, so a listing of a large prefix
costs no download and an unreadable file fails alone.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from personseg.errors import UserError

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp", ".bmp")


@dataclass(frozen=True)
class Source:
    """One image to segment: ``name`` for messages, ``rel`` its path under the output folder (no suffix)."""

    name: str
    rel: PurePosixPath
    read: Callable[[], bytes]


def _file(path: Path, rel: PurePosixPath) -> Source:
    return Source(str(path), rel, path.read_bytes)


def _folder(root: Path) -> list[Source]:
    files = sorted(p for p in root.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES
                   and not any(part.startswith(".") for part in p.relative_to(root).parts))
    return [_file(p, PurePosixPath(p.relative_to(root).as_posix()).with_suffix("")) for p in files]


def _s3_prefix(uri: str) -> list[Source]:
    from personseg.storage.client import Store
    from personseg.storage.s3uri import parse_s3_uri

    target = parse_s3_uri(uri)
    store = Store.from_env()
    if target.key and store.exists(target.bucket, target.key):  # one object, not a prefix
        name = PurePosixPath(target.key)
        return [Source(uri, name.with_suffix("").relative_to(name.parent),
                       lambda: store.get_bytes(target.bucket, target.key))]
    out = []
    for obj in sorted(store.list(target.bucket, target.prefix), key=lambda o: o.key):
        key = obj.key
        if obj.size < 0 or PurePosixPath(key).suffix.lower() not in IMAGE_SUFFIXES:
            continue
        rel = PurePosixPath(key[len(target.prefix):]).with_suffix("")
        out.append(Source(f"s3://{target.bucket}/{key}", rel,
                          lambda key=key: store.get_bytes(target.bucket, key)))
    return out


def gather(inputs: list[str]) -> list[Source]:
    """Expand files, folders and ``s3://`` prefixes; an input that names nothing is a ``UserError``.

    A file keeps its name under the output folder; a folder's or prefix's images keep their path below it.
    Two inputs that would write the same output are refused before anything runs.
    """
    sources: list[Source] = []
    for item in inputs:
        if item.startswith("s3://"):
            found = _s3_prefix(item)
        elif Path(item).is_dir():
            found = _folder(Path(item))
        elif Path(item).is_file():
            found = [_file(Path(item), PurePosixPath(Path(item).stem))]
        else:
            raise UserError(f"input {item}: no such file or folder")
        if not found:
            raise UserError(f"input {item}: no images ({', '.join(IMAGE_SUFFIXES)}) in it")
        sources.extend(found)
    seen: dict[PurePosixPath, str] = {}
    for src in sources:
        if src.rel in seen:
            raise UserError(f"inputs {seen[src.rel]} and {src.name} would both write {src.rel}.png; "
                            "segment them into different --out folders")
        seen[src.rel] = src.name
    return sources
