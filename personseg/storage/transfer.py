"""Move whole directory trees to and from a bucket, a few files at a time, every file verified.

A tree's record is a ``FileRecord`` per relative path (sha256 and size): the same shape in a
dataset manifest and a model card, so one downloader serves both.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from personseg.hashing import file_sha256
from personseg.storage.client import Store
from personseg.storage.errors import IntegrityError

WORKERS_VAR = "PERSONSEG_S3_WORKERS"


@dataclass(frozen=True)
class FileRecord:
    """What a stored file must hash to."""

    sha256: str
    size: int

    def to_json(self) -> dict[str, object]:
        """The JSON form used in manifests and model cards."""
        return {"sha256": self.sha256, "size": self.size}


def workers() -> int:
    """Parallel transfers: ``PERSONSEG_S3_WORKERS`` or 4."""
    raw = os.environ.get(WORKERS_VAR, "").strip()
    return max(1, int(raw)) if raw.isdigit() else 4


def record_tree(root: Path, skip: Callable[[str], bool] = lambda rel: False) -> dict[str, FileRecord]:
    """``{rel: FileRecord}`` for every non-hidden regular file under ``root``, sorted."""
    out: dict[str, FileRecord] = {}
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root).as_posix()
        if path.is_file() and not any(p.startswith(".") for p in rel.split("/")) and not skip(rel):
            out[rel] = FileRecord(file_sha256(path), path.stat().st_size)
    return out


def records_from_json(where: str, data: object) -> dict[str, FileRecord]:
    """Parse ``{rel: {"sha256", "size"}}`` from a manifest or card; bad entries name ``where``."""
    if not isinstance(data, dict) or not data:
        raise IntegrityError(f"{where}: 'files' must be a non-empty object")
    out = {}
    for rel, rec in data.items():
        safe_rel(where, rel)
        if not isinstance(rec, dict) or not isinstance(rec.get("sha256"), str) or not isinstance(rec.get("size"), int):
            raise IntegrityError(f"{where}: entry for {rel!r} needs 'sha256' (string) and 'size' (integer)")
        out[rel] = FileRecord(rec["sha256"], rec["size"])
    return out


def safe_rel(where: str, rel: str) -> str:
    """Reject a relative path that is absolute, empty, hidden or climbs out with ``..``."""
    parts = PurePosixPath(rel).parts
    if not rel or rel.startswith("/") or any(p in ("", ".", "..") or p.startswith(".") for p in parts):
        raise IntegrityError(f"{where}: unsafe or hidden file path {rel!r}")
    return rel


def _run_all(jobs: list[Callable[[], None]]) -> None:
    """Run jobs on a small pool; the first failure cancels the rest and is raised."""
    if not jobs:
        return
    with ThreadPoolExecutor(max_workers=min(workers(), len(jobs))) as pool:
        futures = [pool.submit(job) for job in jobs]
        done, _ = wait(futures, return_when=FIRST_EXCEPTION)
        for fut in done:
            if fut.exception() is not None:
                for other in futures:
                    other.cancel()
                raise fut.exception()
        for fut in futures:
            fut.result()


def upload_tree(store: Store, bucket: str, prefix: str, root: Path, rels: list[str]) -> None:
    """Upload ``root/rel`` to ``prefix/rel`` for each ``rel``."""
    key = (lambda rel: f"{prefix}/{rel}") if prefix else (lambda rel: rel)
    _run_all([lambda rel=rel: store.upload_file(bucket, key(rel), root / rel) for rel in rels])


def download_tree(
    store: Store, bucket: str, prefix: str, dest: Path, files: Mapping[str, FileRecord | int]
) -> None:
    """Download ``prefix/rel`` into ``dest/rel``; a ``FileRecord`` is verified, an int is a size."""
    def fetch(rel: str, rec: FileRecord | int) -> None:
        target = dest / safe_rel(f"s3://{bucket}/{prefix}", rel)
        target.parent.mkdir(parents=True, exist_ok=True)
        src = f"{prefix}/{rel}" if prefix else rel
        if isinstance(rec, FileRecord):
            store.download_file(bucket, src, target, sha256=rec.sha256, size=rec.size)
        else:
            store.download_file(bucket, src, target, size=rec)

    _run_all([lambda rel=rel, rec=rec: fetch(rel, rec) for rel, rec in files.items()])
