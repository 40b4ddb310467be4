"""Remote URIs to local directories: what ``personseg.uris`` calls for s3:// and models:/ inputs.

Everything lands in the content-addressed cache (``personseg.storage.cache``): downloaded once,
verified, shared by concurrent readers. A prefix written by personseg (a dataset manifest or a
model card) is verified file by file against its sha256; a prefix uploaded by other tools is
keyed by its listing (keys, sizes, ETags) and stored under the hash of what was downloaded.
"""

from __future__ import annotations

import hashlib
import json
import logging
from pathlib import Path

from personseg.modeldir import read_model_dir
from personseg.storage.cache import cached_tree, cached_tree_by_alias
from personseg.storage.card import CARD
from personseg.storage.client import Store
from personseg.storage.datasets import MANIFEST, read_manifest, tree_hash
from personseg.storage.errors import IntegrityError, MissingKey
from personseg.storage.refs import PREFIX
from personseg.storage.registry import Registry
from personseg.storage.s3uri import S3Uri, parse_s3_uri
from personseg.storage.transfer import FileRecord, download_tree, records_from_json

log = logging.getLogger(__name__)


def _fetch_listed(store: Store, target: S3Uri, kind: str) -> Path:
    """Cache a prefix that has no personseg manifest: every non-hidden object under it."""
    listing = [
        o for o in store.list(target.bucket, target.prefix)
        if not any(p.startswith(".") for p in o.key[len(target.prefix) :].split("/"))
    ]
    if not listing:
        raise MissingKey(f"{target}: no objects under this prefix at {store.url}")
    sizes = {o.key[len(target.prefix) :]: o.size for o in listing}
    alias = f"{store.url}\0{target}\0" + "\n".join(f"{o.key}\0{o.size}\0{o.etag}" for o in listing)

    def fill(tmp: Path) -> None:
        download_tree(store, target.bucket, target.key, tmp, sizes)

    path, filled = cached_tree_by_alias(kind, alias, fill)
    if filled:
        log.info("fetched %d files from %s into %s", len(sizes), target, path)
    return path


def _fetch_recorded(
    store: Store, target: S3Uri, kind: str, files: dict[str, FileRecord], extra: dict[str, bytes] | None = None
) -> Path:
    """Cache a prefix whose files are recorded (sha256, size); ``extra`` files are written as given."""
    extra = extra or {}
    key = tree_hash({**files, **{rel: _record(data) for rel, data in extra.items()}})

    def fill(tmp: Path) -> None:
        download_tree(store, target.bucket, target.key, tmp, files)
        for rel, data in extra.items():
            (tmp / rel).write_bytes(data)

    path, filled = cached_tree(kind, key, fill)
    if filled:
        log.info("fetched %d files from %s into %s (sha256 verified)", len(files), target, path)
    return path


def _record(data: bytes) -> FileRecord:
    return FileRecord(hashlib.sha256(data).hexdigest(), len(data))


def fetch_dataset(uri: str) -> Path:
    """A local copy of the dataset under the s3:// prefix ``uri`` (downloaded once)."""
    target = parse_s3_uri(uri)
    store = Store.from_env()
    manifest = read_manifest(store, target)
    if manifest is None:
        return _fetch_listed(store, target, "datasets")
    return _fetch_recorded(store, target, "datasets", manifest.files)


def fetch_model(uri: str) -> Path:
    """A local saved-model directory for an s3:// prefix or a ``models:/`` registry reference."""
    uri = str(uri)
    if uri.startswith(PREFIX):
        registry = Registry.from_env()
        name, version = registry.resolve(uri)
        files, card = registry.files(name, version)
        target = S3Uri(registry.bucket, f"{name}/{version}")
        path = _fetch_recorded(registry.store, target, "models", files, {CARD: card})
    else:
        target = parse_s3_uri(uri)
        store = Store.from_env()
        path = _fetch_model_prefix(store, target)
    read_model_dir(path)
    return path


def _fetch_model_prefix(store: Store, target: S3Uri) -> Path:
    """A saved model at a plain prefix: trust its card or manifest if it has one."""
    try:
        card = store.get_bytes(target.bucket, target.child(CARD))
    except MissingKey:
        card = None
    if card is not None:
        where = f"{target}/{CARD}"
        try:
            files = records_from_json(where, json.loads(card).get("files"))
        except (ValueError, AttributeError):
            raise IntegrityError(f"{where}: not a valid model card") from None
        return _fetch_recorded(store, target, "models", files, {CARD: card})
    manifest = read_manifest(store, target)
    if manifest is not None:
        return _fetch_recorded(store, target, "models", manifest.files)
    log.debug("%s has no %s or %s; caching by listing", target, CARD, MANIFEST)
    return _fetch_listed(store, target, "models")
