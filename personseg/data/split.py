"""Train/val split that depends only on ids (stable as a dataset grows), or on ``split.json``."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from personseg.errors import UserError

SPLIT_FILE = "split.json"


def _bucket(sample_id: str) -> float:
    digest = hashlib.sha256(sample_id.encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def split_ids(ids: list[str], val_fraction: float = 0.2, root: str | Path | None = None) -> tuple[list[str], list[str]]:
    """``(train, val)`` ids: from ``root/split.json`` if present, else by a hash of each id."""
    if root is not None and (Path(root) / SPLIT_FILE).is_file():
        return _from_file(Path(root) / SPLIT_FILE, ids)
    if not 0.0 < val_fraction < 1.0:
        raise UserError(f"val fraction {val_fraction}: must be between 0 and 1")
    val = [i for i in ids if _bucket(i) < val_fraction]
    train = [i for i in ids if _bucket(i) >= val_fraction]
    if not val and len(ids) > 1:  # tiny datasets: keep at least one validation sample
        val, train = [min(train, key=_bucket)], [i for i in train if i != min(train, key=_bucket)]
    if not train:
        raise UserError(f"split: {len(ids)} sample(s) leave nothing to train on")
    return train, val


def _from_file(path: Path, ids: list[str]) -> tuple[list[str], list[str]]:
    try:
        data = json.loads(path.read_text())
        train, val = list(data["train"]), list(data["val"])
    except (json.JSONDecodeError, KeyError, TypeError) as exc:
        raise UserError(f"{path}: expected {{\"train\": [ids], \"val\": [ids]}} ({exc})") from None
    both = set(train) & set(val)
    if both:
        raise UserError(f"{path}: ids in both train and val: {', '.join(sorted(both)[:5])}")
    known = set(ids)
    missing = [i for i in train + val if i not in known]
    if missing:
        raise UserError(f"{path}: ids with no usable sample: {', '.join(missing[:5])}")
    return [i for i in train if i in known], [i for i in val if i in known]
