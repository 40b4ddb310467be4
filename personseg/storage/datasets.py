"""Datasets under an s3:// prefix: push a local folder, read back its manifest.

``push_dataset`` uploads every file, then writes ``.personseg-manifest.json`` (sha256 and size
of each file, plus the tree hash) last: a reader that finds the manifest knows the upload is
complete and what every byte must hash to. The manifest name is hidden, so a downloaded copy
hashes (``personseg.hashing.tree_sha256``) to the same value as the folder that was pushed.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass
from pathlib import Path

from personseg.errors import UserError
from personseg.hashing import manifest_sha256
from personseg.storage.client import Store
from personseg.storage.errors import IntegrityError, MissingKey
from personseg.storage.s3uri import S3Uri, parse_s3_uri
from personseg.storage.transfer import FileRecord, record_tree, records_from_json, upload_tree

log = logging.getLogger(__name__)

MANIFEST = ".personseg-manifest.json"
MANIFEST_FORMAT = 1


@dataclass(frozen=True)
class RemoteTree:
    """A complete upload: its content hash and the record of every file."""

    sha256: str
    files: dict[str, FileRecord]


def tree_hash(files: dict[str, FileRecord]) -> str:
    """The content hash of a set of records (equal to ``tree_sha256`` of the folder)."""
    return manifest_sha256({rel: rec.sha256 for rel, rec in files.items()})


def read_manifest(store: Store, target: S3Uri) -> RemoteTree | None:
    """The manifest under ``target``, checked for consistency; None when there is none."""
    key = target.child(MANIFEST)
    try:
        data = store.get_json(target.bucket, key)
    except MissingKey:
        return None
    where = f"s3://{target.bucket}/{key}"
    if not isinstance(data, dict) or data.get("format") != MANIFEST_FORMAT:
        raise IntegrityError(f"{where}: not a personseg manifest (format {MANIFEST_FORMAT})")
    files = records_from_json(where, data.get("files"))
    if tree_hash(files) != data.get("sha256"):
        raise IntegrityError(f"{where}: 'sha256' does not match its file list; the manifest was edited")
    return RemoteTree(data["sha256"], files)


def push_dataset(local: str | Path, uri: str, store: Store | None = None, overwrite: bool = False,
                 replace_hint: str = "push to a new prefix, or pass --force") -> RemoteTree:
    """Upload folder ``local`` to the s3:// prefix ``uri``; the manifest goes last.

    Pushing the same content again uploads nothing. A prefix that already holds a different
    dataset is refused unless ``overwrite``, because readers pinned to its hash would break;
    ``replace_hint`` tells the caller's user what to do instead (a command without the flag says so).
    """
    local = Path(local)
    if not local.is_dir():
        raise UserError(f"dataset {local}: no such directory")
    target = parse_s3_uri(uri)
    files = record_tree(local)
    if not files:
        raise UserError(f"dataset {local}: no files to push")
    tree = RemoteTree(tree_hash(files), files)
    store = store or Store.from_env()
    store.ensure_bucket(target.bucket)
    existing = read_manifest(store, target)
    if existing is not None and existing.sha256 == tree.sha256:
        log.info("%s already holds this dataset (sha256 %s); nothing to upload", target, tree.sha256[:12])
        return tree
    if existing is not None and not overwrite:
        raise UserError(
            f"{target} already holds a different dataset (sha256 {existing.sha256[:12]}...); {replace_hint}"
        )
    if existing is not None:
        store.remove(target.bucket, target.child(MANIFEST))
    log.info("pushing %d files from %s to %s", len(files), local, target)
    upload_tree(store, target.bucket, target.key, local, list(files))
    if existing is not None:
        for rel in set(existing.files) - set(files):
            store.remove(target.bucket, target.child(rel))
    manifest = {
        "format": MANIFEST_FORMAT,
        "sha256": tree.sha256,
        "created": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "files": {rel: rec.to_json() for rel, rec in files.items()},
    }
    store.put_json(target.bucket, target.child(MANIFEST), manifest)
    return tree
