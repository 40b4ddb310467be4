"""Content hashes for files and directory trees: dataset identity, cache keys, model integrity."""

from __future__ import annotations

import hashlib
from pathlib import Path

CHUNK = 1 << 20


def file_sha256(path: str | Path) -> str:
    """Hex sha256 of one file, read in chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def tree_manifest(root: str | Path) -> dict[str, str]:
    """``{relative/posix/path: sha256}`` for every regular file under ``root`` (hidden files skipped)."""
    root = Path(root)
    out: dict[str, str] = {}
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root)
        if path.is_file() and not any(part.startswith(".") for part in rel.parts):
            out[rel.as_posix()] = file_sha256(path)
    return out


def manifest_sha256(manifest: dict[str, str]) -> str:
    """One sha256 naming a whole manifest: same files with same bytes give the same hash."""
    digest = hashlib.sha256()
    for rel in sorted(manifest):
        digest.update(f"{rel}\0{manifest[rel]}\n".encode())
    return digest.hexdigest()


def tree_sha256(root: str | Path) -> str:
    """The content hash of a directory tree (see ``manifest_sha256``)."""
    return manifest_sha256(tree_manifest(root))
