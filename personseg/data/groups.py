"""Groups of ids that a split keeps in one part: e.g. the photos of one person.

A dataset's ``dataset.json`` holds them as ``"groups": {"P001": ["P001_selfie", ...]}``. Writers
(``data import``, ``data label``) fill it from the source or from ``--group-by REGEX`` over ids, whose
first group (or whole match) names the id's group; ``data/split.py`` reads it.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from personseg.errors import UserError

CARD_FILE = "dataset.json"


def group_pattern(group_by: str | None) -> re.Pattern[str] | None:
    """``--group-by``'s expression compiled; None when not given."""
    if group_by is None:
        return None
    try:
        return re.compile(group_by)
    except re.error as exc:
        raise UserError(f"--group-by {group_by!r}: not a regular expression ({exc})") from None


def group_of(sample_id: str, pattern: re.Pattern[str], where: str) -> str:
    """The group ``pattern`` names in ``sample_id``: its first group, else the whole match."""
    found = pattern.search(sample_id)
    if found is None:
        raise UserError(f"--group-by {pattern.pattern!r}: does not match the id {sample_id!r} ({where})")
    return found.group(1) if pattern.groups else found.group(0)


def read_groups(root: Path) -> dict[str, str] | None:
    """``root/dataset.json``'s ``groups`` as {id: group}; None when there is no card or it has none."""
    card = root / CARD_FILE
    if not card.is_file():
        return None
    try:
        groups = json.loads(card.read_text()).get("groups")
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, AttributeError) as exc:
        raise UserError(f"{card}: not a readable JSON object ({exc})") from None
    if groups is None:
        return None
    if not isinstance(groups, dict) or not all(
            isinstance(m, list) and all(isinstance(i, str) for i in m) for m in groups.values()):
        raise UserError(f"{card}: 'groups' must map each group name to a list of ids")
    group_by_id: dict[str, str] = {}
    for group, members in groups.items():
        for i in members:
            if group_by_id.setdefault(i, group) != group:
                raise UserError(f"{card}: groups: id {i!r} is in both {group_by_id[i]!r} and {group!r}")
    return group_by_id
