"""A content-addressed local cache of remote directories, safe for concurrent readers.

``<root>/<kind>/<sha256>/`` holds one downloaded tree whose ``tree_sha256`` is its name. A
directory appears there only by an atomic rename of a complete temporary sibling, so a reader that
sees it can use it without locking. Filling is serialised by an ``flock`` per key, so N processes
asking for the same dataset download it once and the other N-1 wait, then reuse it.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import re
import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

from personseg.atomic import atomic_dir
from personseg.errors import UserError
from personseg.hashing import tree_sha256

CACHE_VAR = "PERSONSEG_CACHE"
_HEX = re.compile(r"[0-9a-f]{64}")


def cache_root() -> Path:
    """``$PERSONSEG_CACHE``, else ``~/.cache/personseg``."""
    env = os.environ.get(CACHE_VAR, "").strip()
    return Path(env).expanduser() if env else Path.home() / ".cache" / "personseg"


@contextlib.contextmanager
def file_lock(path: Path) -> Iterator[None]:
    """Hold an exclusive ``flock`` on ``path`` (created if needed) for the block."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def _check_key(key: str) -> str:
    if not _HEX.fullmatch(key):
        raise UserError(f"cache key {key!r}: expected a hex sha256")
    return key


def cached_tree(kind: str, key: str, fill: Callable[[Path], None]) -> tuple[Path, bool]:
    """The cache dir for content hash ``key``; ``fill(tmp)`` populates it on a miss.

    Returns the path and whether this call filled it. After ``fill`` the tree's hash must equal
    ``key``, or nothing is kept.
    """
    root = cache_root()
    final = root / kind / _check_key(key)
    if final.is_dir():
        return final, False
    with file_lock(root / "locks" / f"{kind}-{key}.lock"):
        if final.is_dir():
            return final, False
        with atomic_dir(final) as tmp:
            fill(tmp)
            got = tree_sha256(tmp)
            if got != key:
                raise UserError(f"cache {kind}/{key[:12]}: downloaded tree hashes to {got[:12]}, not {key[:12]}")
    return final, True


def cached_tree_by_alias(kind: str, alias: str, fill: Callable[[Path], None]) -> tuple[Path, bool]:
    """Like ``cached_tree`` when the content hash is known only after downloading.

    ``alias`` (any string, e.g. a listing of keys and ETags) maps to the content hash in
    ``<root>/aliases/``; the tree itself is still stored under its content hash.
    """
    root = cache_root()
    alias_key = hashlib.sha256(f"{kind}\0{alias}".encode()).hexdigest()
    alias_file = root / "aliases" / alias_key
    with file_lock(root / "locks" / f"alias-{alias_key}.lock"):
        if alias_file.is_file():
            known = alias_file.read_text().strip()
            if _HEX.fullmatch(known) and (root / kind / known).is_dir():
                return root / kind / known, False
        (root / kind).mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=".fill-", dir=root / kind))
        try:
            fill(tmp)
            key = tree_sha256(tmp)
            final = root / kind / key
            with file_lock(root / "locks" / f"{kind}-{key}.lock"):
                filled = not final.is_dir()
                if filled:
                    tmp.rename(final)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        alias_file.parent.mkdir(parents=True, exist_ok=True)
        part = alias_file.with_name(f".{alias_key}.tmp-{os.getpid()}")
        part.write_text(key + "\n")
        part.replace(alias_file)
    return final, filled
