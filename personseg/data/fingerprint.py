"""A dataset's fingerprint: changes when any of its files does, computed without downloading it.

Scheduled retraining is driven by it: the pipeline trains only when the data (or the recipe) differs
from what the production model was trained on. For ``s3://`` prefixes it hashes the listing (key,
size and ETag of every object), which S3 changes whenever an object's bytes change; local folders
and the committed datasets hash their contents; ``synthetic:N`` is generated, so its name and the
generator's version are the fingerprint.
"""

from __future__ import annotations

import hashlib

from personseg.errors import UserError

SYNTHETIC = "synthetic:"


def _sha(parts: list[str]) -> str:
    digest = hashlib.sha256()
    for part in parts:
        digest.update(part.encode() + b"\n")
    return digest.hexdigest()


def s3_listing_fingerprint(uri: str) -> str:
    """sha256 over (relative key, size, ETag) of every object under the ``s3://`` prefix ``uri``."""
    from personseg.storage.client import Store
    from personseg.storage.s3uri import parse_s3_uri

    target = parse_s3_uri(uri)
    objects = Store.from_env().list(target.bucket, target.prefix)
    if not objects:
        raise UserError(f"dataset {uri}: no objects under this prefix")
    return _sha([f"{o.key[len(target.prefix):]}\t{o.size}\t{o.etag}" for o in sorted(objects, key=lambda o: o.key)])


def training_fingerprint(dataset_uri: str, extra_train_uri: str = "", extra_val_uri: str = "") -> str:
    """The fingerprint of what shapes a run's model: the dataset's, with its extra training and validation sets'.

    The validation set is in it because it chooses the epoch that is kept.
    """
    main = dataset_fingerprint(dataset_uri)
    train, val = str(extra_train_uri).strip(), str(extra_val_uri).strip()
    if not train and not val:
        return main  # runs without extra sets keep the fingerprint they always had
    if not val:
        return _sha([main, dataset_fingerprint(train)])  # as before extra validation sets existed
    return _sha([main, dataset_fingerprint(train) if train else "", "val", dataset_fingerprint(val)])


def dataset_fingerprint(uri: str) -> str:
    """The fingerprint of the dataset named by ``uri`` (any form the pipeline's ``dataset_uri`` takes)."""
    uri = str(uri).strip()
    if uri.startswith("s3://"):
        return s3_listing_fingerprint(uri)
    if uri.startswith(SYNTHETIC):
        from personseg import __version__

        return _sha([uri, f"personseg {__version__}"])
    from personseg.hashing import tree_sha256
    from personseg.labeling.committed import WHICH

    if uri in WHICH:
        from personseg.labeling.committed import committed_dataset

        return tree_sha256(committed_dataset(uri))
    from personseg.uris import local_dataset

    return tree_sha256(local_dataset(uri))
