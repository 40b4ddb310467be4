"""Remove what interrupted publishes left behind: never a complete version, never a young one.

A version prefix ``<name>/<V>/`` is complete when it holds a model card; gc never removes its card
or files. It removes:

- an incomplete version (objects but no card) whose newest object is at least ``older_than`` old.
  A tombstone ``.collected.json`` goes in first, so the number is never handed out again (a stalled
  publish that wakes up must not share it with a new one). The claims go next, so that publish
  fails its check before the card (``claims.Claim.check_held``), then everything else;
- claim objects under ``.claims/`` in a complete version, ``older_than`` old: a publisher that lost
  the number and died before deleting its claim (the card and files guard the number now). The
  ``.claim`` of a conditional publish is kept: it records who published;
- probe objects under ``_probe/`` (``conditional_put.py``) that a killed process left, ``older_than`` old.

Ages are the server's LastModified against the server's own clock (``Store.server_time``), so this
machine's clock does not matter. A publish writes its claim, then each file as it completes, so
``older_than`` must exceed the longest single-file upload.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from dataclasses import dataclass, field

from personseg.errors import UserError
from personseg.storage.card import CARD
from personseg.storage.claims import CLAIM, CLAIMS_DIR, TOMBSTONE
from personseg.storage.client import ObjectInfo, Store
from personseg.storage.conditional_put import PROBE_PREFIX
from personseg.storage.errors import MissingKey
from personseg.storage.refs import check_name

_AGE_RE = re.compile(r"(\d+)([smhd]?)")
_UNITS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}


@dataclass(frozen=True)
class Found:
    """An object gc removes (or would), or a version it keeps, and why."""

    key: str
    reason: str


@dataclass
class GcReport:
    """What one run removed (or, with ``dry_run``, would remove) and which incomplete versions it kept."""

    dry_run: bool
    removed: list[Found] = field(default_factory=list)
    kept: list[Found] = field(default_factory=list)


def parse_age(text: str) -> dt.timedelta:
    """``90s``, ``30m``, ``1h``, ``2d`` or plain seconds, as a timedelta."""
    found = _AGE_RE.fullmatch(text.strip())
    if not found:
        raise UserError(f"--older-than {text!r}: use a whole number with s, m, h or d (e.g. 90m, 1h, 2d)")
    return dt.timedelta(seconds=int(found.group(1)) * _UNITS[found.group(2)])


def age_text(age: dt.timedelta) -> str:
    """A short age such as ``45s``, ``12m`` or ``3h``."""
    seconds = max(0, int(age.total_seconds()))
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def collect(store: Store, bucket: str, name: str, older_than: dt.timedelta, dry_run: bool = False) -> GcReport:
    """Remove (or list, with ``dry_run``) what interrupted publishes of ``name`` left; see the module docstring."""
    check_name(name)
    if older_than < dt.timedelta(0):
        raise UserError(f"--older-than {older_than}: must not be negative")
    report = GcReport(dry_run)
    objects = store.list(bucket, f"{name}/")
    probes = store.list(bucket, PROBE_PREFIX)
    if not objects and not probes:
        return report
    now = _server_now(store, bucket, [o.key for o in objects + probes])

    def old(obj: ObjectInfo) -> bool:
        return older_than <= dt.timedelta(0) or (obj.modified is not None and now - obj.modified >= older_than)

    for version, objs in sorted(_by_version(objects).items()):
        rels = {o.key.split("/", 2)[2]: o for o in objs}
        if CARD in rels:
            for rel, obj in sorted(rels.items()):
                if rel.startswith(CLAIMS_DIR + "/") and old(obj):
                    _remove(store, bucket, report, obj.key, f"claim left in complete version {version}")
            continue
        rest = [o for rel, o in rels.items() if rel != TOMBSTONE]
        if not rest:
            continue  # already collected
        newest = max(rest, key=lambda o: o.modified or now)
        age = age_text(now - (newest.modified or now))
        if not old(newest):
            why = f"incomplete, newest object {age} old: younger than {age_text(older_than)}, may be a publish running"
            report.kept.append(Found(f"{name}/{version}/", why))
            continue
        _collect_version(store, bucket, report, name, version, f"incomplete version {version} (no card, {age} old)")
    for obj in probes:
        if old(obj):
            _remove(store, bucket, report, obj.key, "capability probe left behind")
    return report


def _collect_version(store: Store, bucket: str, report: GcReport, name: str, version: int, reason: str) -> None:
    """Tombstone, then claims, then the rest; a card that appeared meanwhile stops it."""
    prefix = f"{name}/{version}/"
    if report.dry_run:
        for obj in store.list(bucket, prefix):
            if not obj.key.endswith("/" + TOMBSTONE):
                report.removed.append(Found(obj.key, reason))
        return
    stone = json.dumps({"collected_at": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")})
    store.put_bytes(bucket, prefix + TOMBSTONE, stone.encode(), content_type="application/json")
    keys = [o.key for o in store.list(bucket, prefix) if o.key != prefix + TOMBSTONE]
    if prefix + CARD in keys:  # the publish finished between our listings: it is complete, leave it
        store.remove(bucket, prefix + TOMBSTONE)
        report.kept.append(Found(prefix, "completed while gc ran"))
        return
    claims = [k for k in keys if k == prefix + CLAIM or k.startswith(prefix + CLAIMS_DIR + "/")]
    for key in claims + [k for k in keys if k not in claims]:
        _remove(store, bucket, report, key, reason)


def _remove(store: Store, bucket: str, report: GcReport, key: str, reason: str) -> None:
    if not report.dry_run:
        store.remove(bucket, key)
    report.removed.append(Found(key, reason))


def _by_version(objects: list[ObjectInfo]) -> dict[int, list[ObjectInfo]]:
    out: dict[int, list[ObjectInfo]] = {}
    for obj in objects:
        parts = obj.key.split("/", 2)
        if len(parts) == 3 and parts[1].isdigit():
            out.setdefault(int(parts[1]), []).append(obj)
    return out


def _server_now(store: Store, bucket: str, keys: list[str]) -> dt.datetime:
    """The server's clock, read from an object that is still there (a listed one may be deleted meanwhile)."""
    for key in keys[:5]:
        try:
            return store.server_time(bucket, key)
        except MissingKey:
            continue
    return dt.datetime.now(dt.timezone.utc)
