"""Turn the URIs every step accepts (local path, s3://, models:/) into local paths.

Local paths pass through. s3:// prefixes and models:/ registry references are fetched by
``personseg.storage`` (verified, cached) so the steps themselves only ever see local directories.
"""

from __future__ import annotations

from pathlib import Path

from personseg.errors import UserError
from personseg.storage.refs import PREFIX

REMOTE_PREFIXES = ("s3://", PREFIX)


def is_remote(uri: str) -> bool:
    """True when the URI must be fetched through the storage layer."""
    return str(uri).startswith(REMOTE_PREFIXES)


def local_dataset(uri: str) -> Path:
    """A local folder holding the dataset named by ``uri`` (downloaded once if remote)."""
    if is_remote(uri):
        from personseg.storage.resolve import fetch_dataset

        return fetch_dataset(str(uri))
    path = Path(uri)
    if not path.is_dir():
        raise UserError(f"dataset {uri}: no such directory")
    return path


def local_model(uri: str) -> Path:
    """A local saved-model directory for ``uri`` (pulled and sha256-verified if remote)."""
    if is_remote(uri):
        from personseg.storage.resolve import fetch_model

        return fetch_model(str(uri))
    path = Path(uri)
    if not path.is_dir():
        raise UserError(f"model {uri}: no such directory (a saved model is a directory with config.json)")
    return path
