"""Check a model directory against its model card before it is served, wherever it came from.

``models pull`` and the cache verify each file as it downloads, but a directory that reaches the
server another way (KServe's storage initializer copying an ``s3://`` prefix to /mnt/models, a
mounted volume, a cache edited on disk) was served as it was. The server now checks every file's
sha256 and size against the card's ``files`` and refuses files the card does not list. Replacing
the weights *and* the card in S3 passes that check, so the deployer also pins the card's digest
(``card_digest``) in the serving pod's environment, ``PERSONSEG_CARD_SHA256``, and the server
refuses a card with another digest.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from personseg.hashing import file_sha256
from personseg.storage.card import CARD
from personseg.storage.errors import IntegrityError
from personseg.storage.transfer import records_from_json

CARD_DIGEST_ENV = "PERSONSEG_CARD_SHA256"


def card_digest(card: dict[str, Any]) -> str:
    """sha256 of the card's canonical JSON (sorted keys, no spaces): the same for its bytes in S3 or on disk."""
    canonical = json.dumps(card, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


def verify_model_tree(path: Path, expected_digest: str | None = None) -> str | None:
    """Check ``path`` against its card; return the card's digest (None: no card and none expected).

    Raises ``IntegrityError`` naming the file that differs, an unlisted file, or a card whose digest
    is not ``expected_digest``.
    """
    card_path = Path(path) / CARD
    if not card_path.is_file():
        if expected_digest:
            raise IntegrityError(f"{path}: no {CARD}, but {CARD_DIGEST_ENV} pins one ({expected_digest[:12]}...)")
        return None
    try:
        card = json.loads(card_path.read_bytes())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise IntegrityError(f"{card_path}: not valid JSON ({exc})") from None
    if not isinstance(card, dict):
        raise IntegrityError(f"{card_path}: not a model card")
    digest = card_digest(card)
    if expected_digest and digest != expected_digest:
        raise IntegrityError(f"{card_path}: card digest {digest[:12]}... is not the deployed one "
                             f"({CARD_DIGEST_ENV}={expected_digest[:12]}...); the card was replaced after deploy")
    files = records_from_json(str(card_path), card.get("files"))
    for rel, record in files.items():
        file = Path(path) / rel
        if not file.is_file():
            raise IntegrityError(f"{file}: listed in {CARD} but missing")
        size = file.stat().st_size
        if size != record.size or file_sha256(file) != record.sha256:
            raise IntegrityError(f"{file}: content does not match {CARD} (size {size}, expected {record.size}); "
                                 "the file was changed after publishing")
    unlisted = sorted(
        rel for p in Path(path).rglob("*") if p.is_file()
        and (rel := p.relative_to(path).as_posix()) != CARD and rel not in files
        and not any(part.startswith(".") for part in p.relative_to(path).parts)
    )
    if unlisted:
        raise IntegrityError(f"{path}: file(s) not in {CARD}: {', '.join(unlisted[:5])}")
    return digest
