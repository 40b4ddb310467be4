"""``personseg train --out s3://...``: train into a local folder, then rank 0 uploads it.

This is how a TrainJob's nodes hand the model back: every node runs the same command, only rank 0
(torchrun's ``RANK``; a run without torchrun is rank 0) writes a model, and it pushes it with a
manifest written last (``personseg.storage.datasets.push_dataset``), so a reader that finds the
manifest knows the upload is complete and what each file must hash to.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from personseg.atomic import FORCE_HINT
from personseg.errors import UserError
from personseg.storage.datasets import read_manifest
from personseg.storage.s3uri import parse_s3_uri


def is_rank0() -> bool:
    """True in the process that writes the model (``RANK`` 0, or no process group at all)."""
    return os.environ.get("RANK", "0").strip() in ("", "0")


@contextmanager
def output_dir(out: str, force: bool = False) -> Iterator[Path]:
    """A local directory to train into; an ``s3://`` ``out`` is uploaded from it by rank 0 afterwards.

    Rank 0 refuses, before training, a prefix that already holds an upload, unless ``force``.
    """
    if not str(out).startswith("s3://"):
        yield Path(out)
        return
    target = parse_s3_uri(str(out))  # a malformed URI fails before training, not after
    if is_rank0() and not force:
        from personseg.storage.client import Store

        if read_manifest(Store.from_env(), target) is not None:
            raise UserError(f"--out {out}: already holds an upload; {FORCE_HINT}")
    with tempfile.TemporaryDirectory(prefix="personseg-out-") as tmp:
        local = Path(tmp) / "model"
        yield local
        if not is_rank0():
            return
        if not local.is_dir():
            raise UserError(f"--out {out}: rank 0 finished without writing a model")
        from personseg.storage.datasets import push_dataset

        push_dataset(local, str(out), overwrite=force)


def pull_tree(uri: str, dest: str | Path) -> Path:
    """Download what ``output_dir`` uploaded to ``uri`` into ``dest`` (complete, every file sha256-checked)."""
    from personseg.atomic import atomic_dir
    from personseg.storage.client import Store
    from personseg.storage.transfer import download_tree

    target = parse_s3_uri(uri)
    store = Store.from_env()
    manifest = read_manifest(store, target)
    if manifest is None:
        raise UserError(f"{uri}: no complete upload there (no manifest): the training did not hand a model back")
    with atomic_dir(dest) as tmp:
        download_tree(store, target.bucket, target.key, tmp, manifest.files)
    return Path(dest)


def remove_prefix(uri: str) -> int:
    """Delete every object under ``uri`` (the run's scratch prefix); the number removed."""
    from personseg.storage.client import Store

    target = parse_s3_uri(uri)
    store = Store.from_env()
    objects = store.list(target.bucket, target.prefix)
    for obj in objects:
        store.remove(target.bucket, obj.key)
    return len(objects)
