"""Train / val / test splits: from ``split.json``, else by a hash of each id (stable as a dataset grows).

Selection (best epoch, swap revert, INT8 tuning) reads train and val only; every reported or gating
figure reads test, so the figure that decides a deploy was never used to choose the model.

``split.json`` holds lists of ids: ``test`` is required; ``train`` defaults to every id not in val or
test; ``val`` defaults to a hash-chosen share of train. Without the file, ids are hashed into 70/15/15
with at least one image in each part.

What is hashed is each id's group, from ``dataset.json``'s ``groups`` ({group: [ids]}, e.g. the person
in the photos): pictures of one person in train and test would let a model that remembers people
score as if it generalised, so a group never spans two parts. An id in no group is a group of its
own; a dataset with no groups at all is split id by id, with a warning.
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass
from pathlib import Path

from personseg.data.groups import CARD_FILE, read_groups
from personseg.errors import UserError

log = logging.getLogger(__name__)
SPLIT_FILE = "split.json"
PARTS = ("train", "val", "test")
CHOICES = (*PARTS, "all")
VAL_FRACTION = 0.15
TEST_FRACTION = 0.15


@dataclass(frozen=True)
class Split:
    """The ids of each part, in dataset order; ``source`` says where the split came from."""

    train: list[str]
    val: list[str]
    test: list[str]
    source: str

    def part(self, name: str) -> list[str]:
        """The ids of ``name`` (train, val, test, or all of them)."""
        if name == "all":
            return [*self.train, *self.val, *self.test]
        if name not in PARTS:
            raise UserError(f"--split {name!r}: expected one of {', '.join(CHOICES)}")
        return list(getattr(self, name))

    def counts(self) -> dict[str, int]:
        """``{"train": n, "val": n, "test": n}`` for model cards and logs."""
        return {p: len(getattr(self, p)) for p in PARTS}


def _bucket(sample_id: str) -> float:
    digest = hashlib.sha256(sample_id.encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def split_ids(ids: list[str], root: str | Path | None = None, val_fraction: float = VAL_FRACTION,
              test_fraction: float = TEST_FRACTION) -> Split:
    """The split of ``ids``: ``root/split.json`` if present, else by a hash of each id's group."""
    groups = read_groups(Path(root)) if root is not None else None
    if root is not None and (Path(root) / SPLIT_FILE).is_file():
        return _from_file(Path(root) / SPLIT_FILE, ids, val_fraction, groups)
    if groups is None:
        _warn_ungrouped(root, "test and val")
    return hash_split(ids, val_fraction, test_fraction, groups)


def _warn_ungrouped(root: str | Path | None, parts: str) -> None:
    log.warning("dataset %s: no 'groups' in its %s, so %s are chosen photo by photo and one person's photos "
                "can land on both sides (data import --group-by names the groups)", root, CARD_FILE, parts)


def hash_split(ids: list[str], val_fraction: float = VAL_FRACTION, test_fraction: float = TEST_FRACTION,
               groups: dict[str, str] | None = None) -> Split:
    """Deterministic split by a hash of each id's group (``groups``: {id: group}), at least one in each part."""
    if not (0 < val_fraction < 1 and 0 < test_fraction < 1 and val_fraction + test_fraction < 1):
        raise UserError(f"split fractions val {val_fraction}, test {test_fraction}: each in (0, 1), sum below 1")
    if len(ids) < 3:
        raise UserError(f"split: {len(ids)} image(s) are too few to split into train, val and test (need at "
                        "least 3); add images or give a split.json")
    members = _members(ids, groups)
    if len(members) < 3:
        raise UserError(f"split: {len(ids)} images in {len(members)} group(s) are too few to split into train, "
                        "val and test without one group in two parts (need at least 3 groups); give a split.json")
    parts: dict[str, list[str]] = {p: [] for p in PARTS}
    for g in members:
        b = _bucket(g)
        parts["test" if b < test_fraction else "val" if b < test_fraction + val_fraction else "train"].append(g)
    for need in PARTS:  # tiny datasets: move one group from the part with most groups into each empty one
        if not parts[need]:
            donor = max(PARTS, key=lambda p: len(parts[p]))
            moved = max(parts[donor], key=_bucket) if need == "train" else min(parts[donor], key=_bucket)
            parts[donor].remove(moved)
            parts[need].append(moved)
    order = {i: n for n, i in enumerate(ids)}
    return Split(*(sorted((i for g in parts[p] for i in members[g]), key=order.__getitem__) for p in PARTS),
                 source="hash")


def _members(ids: list[str], groups: dict[str, str] | None) -> dict[str, list[str]]:
    """{group: its ids}, in first-seen order; an id in no group is its own group."""
    members: dict[str, list[str]] = {}
    for i in ids:
        members.setdefault((groups or {}).get(i, i), []).append(i)
    return members


def _from_file(path: Path, ids: list[str], val_fraction: float, groups: dict[str, str] | None) -> Split:
    try:
        data = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise UserError(f"{path}: not readable JSON ({exc})") from None
    if not isinstance(data, dict):
        raise UserError(f"{path}: expected an object {{\"train\": [ids], \"val\": [ids], \"test\": [ids]}}")
    unknown = sorted(set(data) - set(PARTS))
    if unknown:
        raise UserError(f"{path}: unknown key(s) {', '.join(unknown)}; expected train, val, test")
    if "test" not in data:
        raise UserError(f"{path}: no 'test' list; reported and gating figures need held-out test ids "
                        "(an old train/val file: rename 'val' to 'test', and val is then chosen from train)")
    listed: dict[str, list[str]] = {}
    for part in PARTS:
        if part in data:
            value = data[part]
            if not isinstance(value, list) or not all(isinstance(i, str) for i in value):
                raise UserError(f"{path}: '{part}' must be a list of id strings")
            listed[part] = value
    seen: dict[str, str] = {}
    for part, members in listed.items():
        for i in members:
            if i in seen:
                raise UserError(f"{path}: id {i!r} is in both {seen[i]} and {part}")
            seen[i] = part
    known = set(ids)
    missing = [i for i in seen if i not in known]
    if missing:
        raise UserError(f"{path}: ids with no usable sample: {', '.join(missing[:5])}")
    test, val = listed["test"], listed.get("val")
    train = listed.get("train", [i for i in ids if i not in seen])
    if val is None:  # carved from train by group, as the hash split does
        if groups is None:
            _warn_ungrouped(path.parent, "val")
        members = _members(train, groups)
        chosen = [g for g in members if _bucket(g) < val_fraction]
        if not chosen and len(members) > 1:
            chosen = [min(members, key=_bucket)]
        val = [i for g in chosen for i in members[g]]
        train = [i for i in train if i not in set(val)]
    unused = len(known) - len(set(train) | set(val) | set(test))
    if unused:
        log.warning("%s: %d image(s) are in no part of the split and are not used", path, unused)
    order = {i: n for n, i in enumerate(ids)}
    return Split(*(sorted(p, key=order.__getitem__) for p in (train, val, test)), source=str(path))
