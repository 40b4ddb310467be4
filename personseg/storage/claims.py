"""Reserving a version number, so that two publishes never complete with the same one.

The rule, on every server: a publisher takes V = 1 + the highest number used under ``<name>/`` (any
object counts: a claim, files, a card, a gc tombstone), writes a claim object under ``<name>/V/``,
then LISTs ``<name>/V/``. It wins V only if its own claim is the *only* object there. A loser
deletes its claim and starts again from a fresh listing; a winner never deletes its claim, and checks
once more that it still holds it just before it writes the card (``Claim.check_held``).

How the claim object is written depends on the server (``probe.py`` asks it once):

- It honours ``If-None-Match: *``: the claim is ``<name>/V/.claim``, PUT with the condition and read
  back (a retried PUT can meet its own first try). Only one publisher can create that key, so the
  others move on to V+1 at once, without backing off.
- It ignores the header (older MinIO): the claim is ``<name>/V/.claims/<uuid>``, a key no other
  publisher writes, with a plain PUT. Publishers that meet on V may all lose; each waits a random
  time (full jitter, doubling from 50 ms up to 2 s) before it tries again. After 50 tries the
  publish fails and says so.

Why two winners are impossible. It needs read-after-write and list-after-write consistency (AWS S3
since December 2020, MinIO, SeaweedFS with one filer) and no clock. Suppose P and Q both won V.
Each listing started after its owner's PUT had returned, and showed only that owner's claim. P's
listing did not show Q's claim, so Q's PUT had not returned when P's listing started, which was
after P's PUT had returned. Q's listing started after Q's PUT returned, so after P's claim existed.
P won, so P's claim was still there, Q saw it, and Q lost: a contradiction. The argument needs each
claim key to be written by one publisher only, which is why the shared ``.claim`` key is used only
where the server enforces the condition. The same argument covers a slow publisher that read the
numbers before V existed and claims V after the winner finished: it sees the winner's claim, files
and card, and loses, so a complete version is never overwritten. It also holds when publishers use
different paths on one bucket (both check the listing), and it makes a gc tombstone stop a claim.

Why not "earliest claim wins" (LastModified, uuid as tie-break)? LastModified has one-second
resolution on weed and MinIO and comes from the clock of whichever node stored the object. A late
publisher whose claim lands in the same second as a winner that has already decided, with a smaller
uuid, would win as well. The sole-claim rule trades that clock for a retry when publishers collide.

Where it can still fail, and how it fails loudly rather than silently colliding:

- ``personseg models gc`` collects incomplete versions older than ``--older-than`` (1 h). It writes a
  tombstone first, so the number is never handed out again, then deletes the claims, then the files.
  A publish stalled for longer finds its claim gone at the check before the card, and fails. If gc
  runs in the instant between that check and the card's PUT, the version ends with a card whose files
  are partly gone. Every pull reports that as a missing or mismatched file, and no other publisher
  was given that number.
- A server without list-after-write consistency (an eventually consistent S3 clone, SeaweedFS with
  several filers syncing metadata asynchronously) breaks the argument; it is not supported.
- A personseg from before this protocol reads ``.claim`` back but does not list. On a server that
  ignores ``If-None-Match``, it can still collide with other publishers. Upgrade every publisher.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import random
import socket
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from personseg.storage.client import Store
from personseg.storage.errors import MissingKey, StorageError

log = logging.getLogger(__name__)

CLAIM = ".claim"
CLAIMS_DIR = ".claims"
TOMBSTONE = ".collected.json"
MAX_TRIES = 50
FIRST_PAUSE = 0.05
MAX_PAUSE = 2.0


@dataclass(frozen=True)
class Claim:
    """A version number this publisher won, and the object that holds it."""

    bucket: str
    name: str
    version: int
    key: str
    token: str

    @property
    def prefix(self) -> str:
        """``<name>/<version>/``."""
        return f"{self.name}/{self.version}/"

    def check_held(self, store: Store) -> None:
        """Raise unless the claim is still ours and gc has not collected the version (run before the card)."""
        keys = {o.key for o in store.list(self.bucket, self.prefix)}
        where = f"s3://{self.bucket}/{self.prefix}"
        if self.key not in keys or self.prefix + TOMBSTONE in keys:
            raise StorageError(
                f"{where}: the claim on version {self.version} is gone (collected by `personseg models gc`?); "
                "not writing the model card"
            )
        if _token(store, self.bucket, self.key) != self.token:
            raise StorageError(
                f"{where}: version {self.version} was taken by another publisher (does the server ignore "
                "If-None-Match?); not writing the model card"
            )


def claim_version(
    store: Store, bucket: str, name: str, used: Callable[[], Iterable[int]], conditional: bool
) -> Claim:
    """Win the next free version number of ``name``; ``used`` lists the numbers taken (module docstring)."""
    for attempt in range(MAX_TRIES):
        version = max(used(), default=0) + 1
        token = uuid.uuid4().hex
        key = f"{name}/{version}/{CLAIM if conditional else f'{CLAIMS_DIR}/{token}'}"
        at = dt.datetime.now(dt.timezone.utc).isoformat(timespec="milliseconds")
        body = json.dumps({"token": token, "host": socket.gethostname(), "pid": os.getpid(), "at": at}).encode()
        if conditional:
            store.put_if_absent(bucket, key, body)
            if _token(store, bucket, key) != token:
                continue  # another publisher created .claim first: V is theirs
        else:
            store.put_bytes(bucket, key, body)
        present = [o.key for o in store.list(bucket, f"{name}/{version}/")]
        if present == [key]:
            return Claim(bucket, name, version, key, token)
        store.remove(bucket, key)
        pause = random.uniform(0, min(MAX_PAUSE, FIRST_PAUSE * 2**attempt))
        log.debug("%s:%d: %d other object(s) beside our claim; retry in %.2fs", name, version, len(present) - 1, pause)
        time.sleep(pause)
    raise StorageError(
        f"could not reserve a version number for {name} in s3://{bucket} at {store.url} after {MAX_TRIES} tries; "
        "too many publishers at once?"
    )


def _token(store: Store, bucket: str, key: str) -> str | None:
    """The token in a claim object, or None if it is gone or unreadable."""
    try:
        body = store.get_json(bucket, key)
    except MissingKey:
        return None
    return body.get("token") if isinstance(body, dict) else None
