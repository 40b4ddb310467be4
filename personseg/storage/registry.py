"""The model registry: numbered versions of saved-model directories in one bucket.

Layout (``s3://<bucket>/``)::

    <name>/<version>/.claim            who reserved this version number (written first), or
    <name>/<version>/.claims/<uuid>    the same where the server ignores If-None-Match
    <name>/<version>/<model files>     config.json, weights, metrics.json, ...
    <name>/<version>/model-card.json   provenance + sha256 of every file (written last)
    <name>/<version>/.status.json      deploy status history (never changes the card)
    <name>/<version>/.collected.json   left by `models gc` in place of an abandoned version
    <name>/_stages/<stage>.json        {"version": N, ...}: one PUT promotes or rolls back

A version exists for readers only once its card exists, so an interrupted publish is invisible.
Version numbers are reserved by ``claims.claim_version`` (with or without conditional PUTs, as the
server allows), so two publishers never share a number, and numbers of abandoned uploads are
never reused.
"""

from __future__ import annotations

import datetime as dt
import getpass
import json
import logging
import random
import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from personseg.atomic import atomic_dir, check_output
from personseg.errors import UserError
from personseg.modeldir import STATE_FILE, read_model_dir
from personseg.storage.card import CARD, CARD_FORMAT, build_card
from personseg.storage.claims import Claim, claim_version
from personseg.storage.client import Store
from personseg.storage.conditional_put import honours_if_none_match
from personseg.storage.config import model_bucket
from personseg.storage.errors import IntegrityError, MissingBucket, MissingKey, StorageError
from personseg.storage.refs import STAGES, ModelRef, check_name, check_stage, parse_ref
from personseg.storage.transfer import FileRecord, download_tree, record_tree, records_from_json, upload_tree

log = logging.getLogger(__name__)

STATUS = ".status.json"
STAGES_DIR = "_stages"
MAX_PRESIGN = dt.timedelta(days=7)
CAS_TRIES = 20
_STATUS_RE = re.compile(r"[a-z][a-z0-9-]{0,39}")


def _now() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")


class Registry:
    """Publish, list, promote and pull model versions in one bucket."""

    def __init__(self, store: Store, bucket: str) -> None:
        self.store = store
        self.bucket = model_bucket(bucket)

    @classmethod
    def from_env(cls, bucket: str | None = None) -> Registry:
        """The registry in ``bucket`` (default ``PERSONSEG_MODEL_BUCKET`` or ``models``) at the env endpoint."""
        return cls(Store.from_env(), model_bucket(bucket))

    @property
    def where(self) -> str:
        """``s3://bucket at URL``, for messages."""
        return f"s3://{self.bucket} at {self.store.url}"

    # -- reading ---------------------------------------------------------------------------

    def names(self) -> list[str]:
        """Every model name with at least one object in the bucket."""
        out = []
        try:
            listing = self.store.list(self.bucket, "", recursive=False)
        except MissingBucket:  # a fresh store: no model published yet
            return []
        for obj in listing:
            name = obj.key.rstrip("/")
            if obj.size == -1 and re.fullmatch(r"[a-z0-9][a-z0-9._-]*", name) and not name.isdigit():
                out.append(name)
        return sorted(out)

    def _listing(self, name: str) -> dict[int, set[str]]:
        """``{version: {relative keys}}`` for every version number used, complete or not."""
        out: dict[int, set[str]] = {}
        try:
            listing = self.store.list(self.bucket, f"{check_name(name)}/", recursive=True)
        except MissingBucket:  # nothing published yet
            return out
        for obj in listing:
            parts = obj.key.split("/", 2)
            if len(parts) == 3 and parts[1].isdigit():
                out.setdefault(int(parts[1]), set()).add(parts[2])
        return out

    def versions(self, name: str) -> list[int]:
        """Complete versions of ``name`` (those with a model card), ascending."""
        return sorted(v for v, keys in self._listing(name).items() if CARD in keys)

    def _card_bytes(self, name: str, version: int) -> tuple[dict[str, Any], bytes]:
        key = f"{check_name(name)}/{int(version)}/{CARD}"
        try:
            data = self.store.get_bytes(self.bucket, key)
        except MissingKey:
            known = ", ".join(map(str, self.versions(name))) or "none"
            raise MissingKey(
                f"model {name}:{version} not found in {self.where} (complete versions: {known})"
            ) from None
        try:
            card = json.loads(data)
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise IntegrityError(f"s3://{self.bucket}/{key}: not valid JSON ({exc})") from None
        if not isinstance(card, dict) or card.get("format") != CARD_FORMAT:
            raise IntegrityError(f"s3://{self.bucket}/{key}: not a personseg model card (format {CARD_FORMAT})")
        if card.get("name") != name or card.get("version") != int(version):
            raise IntegrityError(
                f"s3://{self.bucket}/{key}: card says {card.get('name')}:{card.get('version')}, "
                f"not {name}:{version}; it was copied or edited"
            )
        return card, data

    def card(self, name: str, version: int) -> dict[str, Any]:
        """The model card of a complete version."""
        return self._card_bytes(name, version)[0]

    def stage(self, name: str, stage: str) -> int | None:
        """The version ``stage`` points to, or None if nothing was promoted to it."""
        key = f"{check_name(name)}/{STAGES_DIR}/{check_stage(stage)}.json"
        try:
            data = self.store.get_json(self.bucket, key)
        except MissingKey:
            return None
        version = data.get("version") if isinstance(data, dict) else None
        if not isinstance(version, int) or version < 1:
            raise IntegrityError(f"s3://{self.bucket}/{key}: 'version' must be a positive integer")
        return version

    def location(self, name: str, version: int) -> str:
        """The ``s3://`` prefix holding the version's files (what KServe's storage initializer downloads)."""
        return f"s3://{self.bucket}/{name}/{int(version)}/"

    def stages(self, name: str) -> dict[str, int]:
        """``{stage: version}`` for the stages that are set."""
        return {s: v for s in STAGES if (v := self.stage(name, s)) is not None}

    def resolve(self, ref: str) -> tuple[str, int]:
        """``(name, version)`` of a complete version named by ``NAME``, ``NAME:V`` or ``NAME@STAGE``."""
        parsed = parse_ref(ref)
        name = parsed.name
        if parsed.version is not None:
            if parsed.version not in self.versions(name):
                known = ", ".join(map(str, self.versions(name))) or "none"
                raise MissingKey(f"{parsed}: no such complete version in {self.where} (complete versions: {known})")
            return name, parsed.version
        if parsed.stage is not None:
            version = self.stage(name, parsed.stage)
            if version is None:
                raise MissingKey(
                    f"{parsed}: no version of {name} is promoted to {parsed.stage} in {self.where} "
                    f"(`personseg models promote {name} VERSION --stage {parsed.stage}`)"
                )
            if version not in self.versions(name):
                raise IntegrityError(f"{parsed}: points to version {version}, which has no model card")
            return name, version
        versions = self.versions(name)
        if not versions:
            raise MissingKey(f"{ModelRef(name)}: no complete version in {self.where}")
        return name, versions[-1]

    def status(self, name: str, version: int) -> dict[str, Any] | None:
        """The latest deploy status recorded by ``mark`` (with its history), or None."""
        try:
            data = self.store.get_json(self.bucket, f"{check_name(name)}/{int(version)}/{STATUS}")
        except MissingKey:
            return None
        return data if isinstance(data, dict) else None

    # -- writing ---------------------------------------------------------------------------

    def _claim(self, name: str) -> Claim:
        """Reserve the next version number, conditionally if the server honours it (``claims.py``)."""
        conditional = honours_if_none_match(self.store, self.bucket)
        return claim_version(self.store, self.bucket, name, lambda: self._listing(name), conditional)

    def publish(self, model_dir: Path, name: str, card: dict[str, Any] | None = None, *, smoke: dict[str, Any]) -> int:
        """Upload a saved-model directory as the next version of ``name``; returns the version.

        Files go first, ``model-card.json`` last, so the version becomes visible only when complete.
        ``card`` adds fields to the card or overrides gathered ones (e.g. ``pipeline_run_id``); ``smoke`` is
        the smoke probe's entry the publisher computed (``personseg.serving.smoke_probe.card_entry``).
        """
        model_dir = Path(model_dir)
        info = read_model_dir(model_dir)
        check_name(name)
        files = record_tree(model_dir, skip=lambda rel: rel in (CARD, STATE_FILE))  # training state stays home
        body = build_card(info, name, 0, files, card, smoke=smoke)
        self.store.ensure_bucket(self.bucket)
        claim = self._claim(name)
        version = claim.version
        prefix = f"{name}/{version}"
        log.info("publishing %s as %s:%d (%d files) to %s", model_dir, name, version, len(files), self.where)
        upload_tree(self.store, self.bucket, prefix, model_dir, list(files))
        stored = {o.key[len(prefix) + 1 :]: o.size for o in self.store.list(self.bucket, prefix + "/")}
        for rel, rec in files.items():
            if stored.get(rel) != rec.size:
                raise IntegrityError(
                    f"s3://{self.bucket}/{prefix}/{rel}: stored size {stored.get(rel)} != {rec.size}; not publishing"
                )
        body["version"] = version
        claim.check_held(self.store)
        self.store.put_json(self.bucket, f"{prefix}/{CARD}", body)
        return version

    def _update_json(self, key: str, change: Callable[[dict[str, Any] | None], dict[str, Any]]) -> dict[str, Any]:
        """Read-modify-write one small JSON object with compare-and-swap on its ETag, retried on a race.

        Two writers that read the same old value cannot both win: the loser's conditional PUT is
        refused (412), it reads the winner's value and applies ``change`` to that. On a server that
        ignores conditional writes (an old MinIO, ``conditional_put.py``) the write is plain, as before.
        """
        conditional = honours_if_none_match(self.store, self.bucket)
        for _ in range(CAS_TRIES):
            found = self.store.get_versioned(self.bucket, key)
            current = None if found is None else _json_object(self.bucket, key, found[0])
            new = change(current)
            data = (json.dumps(new, indent=2, sort_keys=True) + "\n").encode()
            if not conditional:
                self.store.put_bytes(self.bucket, key, data, content_type="application/json")
                return new
            if self.store.put_if_match(self.bucket, key, data, None if found is None else found[1]):
                return new
            log.debug("s3://%s/%s changed while being updated; reading it again", self.bucket, key)
            time.sleep(random.uniform(0.0, 0.05))
        raise StorageError(f"s3://{self.bucket}/{key}: {CAS_TRIES} concurrent writers in a row won the race; try again")

    def promote(self, name: str, version: int, stage: str = "production") -> None:
        """Point ``stage`` at ``version``; promoting an older version is a rollback.

        The pointer records the version it replaced (``previous``), read and replaced in one
        compare-and-swap, so concurrent promotions of one stage form a chain with none lost.
        """
        check_stage(stage)
        version = int(version)
        if version not in self.versions(name):
            known = ", ".join(map(str, self.versions(name))) or "none"
            raise MissingKey(f"cannot promote {name}:{version}: no such complete version (complete versions: {known})")

        def point(current: dict[str, Any] | None) -> dict[str, Any]:
            previous = None if current is None else current.get("version")
            return {"version": version, "previous": previous, "promoted_at": _now(), "by": _who()}

        previous = self._update_json(f"{name}/{STAGES_DIR}/{stage}.json", point)["previous"]
        log.debug("%s@%s -> %d (was %s)", name, stage, version, "-" if previous is None else previous)

    def mark(self, name: str, version: int, status: str, detail: str = "") -> None:
        """Record a deploy status (``deployed``, ``rolled-back``, ...) next to a version, keeping its history."""
        if not _STATUS_RE.fullmatch(status):
            raise UserError(f"status {status!r}: use lowercase letters, digits and '-' (e.g. deployed, rolled-back)")
        self.card(name, version)

        def record(previous: dict[str, Any] | None) -> dict[str, Any]:
            history = (previous or {}).get("history", [])
            if previous:
                history = [*history, {k: previous.get(k) for k in ("status", "detail", "at")}][-50:]
            return {"status": status, "detail": detail, "at": _now(), "history": history}

        self._update_json(f"{name}/{int(version)}/{STATUS}", record)

    # -- getting models out ----------------------------------------------------------------

    def files(self, name: str, version: int) -> tuple[dict[str, FileRecord], bytes]:
        """The verified file records of a version and the exact bytes of its card."""
        card, data = self._card_bytes(name, version)
        where = f"s3://{self.bucket}/{name}/{version}/{CARD}"
        return records_from_json(where, card.get("files")), data

    def pull(self, ref: str, out: Path, force: bool = False) -> Path:
        """Download a version into ``out`` (atomically; ``force`` replaces one), every file sha256-checked."""
        check_output(out, force)
        name, version = self.resolve(ref)
        files, card_bytes = self.files(name, version)
        with atomic_dir(out, force) as tmp:
            download_tree(self.store, self.bucket, f"{name}/{version}", tmp, files)
            (tmp / CARD).write_bytes(card_bytes)
            read_model_dir(tmp)
        log.info("pulled %s:%d into %s", name, version, out)
        return Path(out)

    def presign(self, name: str, version: int, expires: dt.timedelta) -> dict[str, str]:
        """``{file: URL}`` for every file of a version (and its card), valid for ``expires``."""
        if not dt.timedelta(seconds=1) <= expires <= MAX_PRESIGN:
            raise UserError(f"expiry {expires}: must be between 1 second and 7 days (the S3 limit)")
        files, _ = self.files(name, version)
        prefix = f"{name}/{int(version)}"
        return {
            rel: self.store.presign_get(self.bucket, f"{prefix}/{rel}", expires) for rel in [*files, CARD]
        }


def _json_object(bucket: str, key: str, data: bytes) -> dict[str, Any]:
    try:
        obj = json.loads(data)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise IntegrityError(f"s3://{bucket}/{key}: not valid JSON ({exc})") from None
    if not isinstance(obj, dict):
        raise IntegrityError(f"s3://{bucket}/{key}: not a JSON object")
    return obj


def _who() -> str | None:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return None
