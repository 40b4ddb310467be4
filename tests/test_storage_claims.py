"""Version claims with and without If-None-Match: the probe, the fallback, and what breaks without it.

The server that ignores If-None-Match is ``storage_proxy.IgnoringProxy`` in front of weed (its
docstring says what it reproduces and what it cannot).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from pathlib import Path

import pytest
import storage_fixtures
import storage_proxy
from storage_fixtures import MODEL_BUCKET, make_model_dir, publish, run_concurrently, unique_name

from personseg.hashing import file_sha256
from personseg.storage import conditional_put
from personseg.storage.claims import CLAIM, CLAIMS_DIR
from personseg.storage.client import Store
from personseg.storage.errors import IntegrityError, StorageError
from personseg.storage.registry import Registry

# The real-server fixtures, bound here so pytest finds them in this module.
s3_server = storage_fixtures.s3_server
s3_env = storage_fixtures.s3_env
s3_proxy = storage_proxy.s3_proxy
proxy_env = storage_proxy.proxy_env


def test_probe_tells_an_honouring_server_from_one_that_ignores_the_header(
    s3_env, s3_proxy, caplog: pytest.LogCaptureFixture
) -> None:
    direct, via = Store(s3_env.config()), Store(s3_proxy.config())
    key = f"{unique_name()}/x"
    assert via.put_if_absent(MODEL_BUCKET, key, b"first") is True
    assert via.put_if_absent(MODEL_BUCKET, key, b"second") is True  # the stand-in overwrites, as old MinIO does
    assert direct.get_bytes(MODEL_BUCKET, key) == b"second"

    assert conditional_put.probe(direct, MODEL_BUCKET) is True
    assert conditional_put.probe(via, MODEL_BUCKET) is False
    assert direct.list(MODEL_BUCKET, conditional_put.PROBE_PREFIX) == []  # probe keys are deleted

    caplog.set_level(logging.INFO, logger="personseg.storage.conditional_put")
    stripped = s3_proxy.stripped
    for _ in range(3):  # asked once per endpoint, then remembered
        assert conditional_put.honours_if_none_match(Store(s3_proxy.config()), MODEL_BUCKET) is False
        assert conditional_put.honours_if_none_match(Store(s3_env.config()), MODEL_BUCKET) is True
    assert s3_proxy.stripped == stripped + 2
    messages = [r.getMessage() for r in caplog.records]
    assert sum("ignores If-None-Match" in m for m in messages) == 1
    assert sum("honours If-None-Match" in m for m in messages) == 1


def test_listing_sees_writes_and_deletes_at_once(s3_env) -> None:
    """The fallback's one assumption about the server, checked on weed (the stand-in inherits it)."""
    store = Store(s3_env.config())
    prefix = f"{unique_name()}/1/"
    for i in range(20):
        key = f"{prefix}{CLAIMS_DIR}/{i:02d}"
        store.put_bytes(MODEL_BUCKET, key, b"claim")
        assert key in {o.key for o in store.list(MODEL_BUCKET, prefix)}
        store.remove(MODEL_BUCKET, key)
        assert store.list(MODEL_BUCKET, prefix) == []


def _first_listing(reg: Registry, name: str, before: Callable[[], None]) -> None:
    """Make ``reg``'s first listing of ``name`` run ``before`` after reading (later listings are real)."""
    calls = []

    def listing(asked: str) -> dict[int, set[str]]:
        out = Registry._listing(reg, asked)
        if not calls:
            calls.append(asked)
            before()
        return out

    reg._listing = listing  # type: ignore[method-assign]


def test_concurrent_publishes_without_if_none_match_get_distinct_complete_versions(
    proxy_env, tmp_path: Path
) -> None:
    name = unique_name()
    dirs = [make_model_dir(tmp_path / f"m{i}") for i in range(4)]
    start = threading.Barrier(len(dirs), timeout=30)  # all four read the numbers, then all claim 1 at once
    got: dict[int, Path] = {}

    def publish_one(d: Path) -> None:
        reg = Registry.from_env()
        _first_listing(reg, name, start.wait)
        got.setdefault(publish(reg, d, name), d)

    assert run_concurrently(publish_one, dirs) == []
    assert len(got) == 4  # four distinct numbers; colliding claims may skip some (docs/storage.md)
    reg = Registry.from_env()
    assert reg.versions(name) == sorted(got)
    for version, src in got.items():
        out = reg.pull(f"{name}:{version}", tmp_path / f"out{version}")  # sha256-verified against the card
        assert file_sha256(out / "model.onnx") == file_sha256(src / "model.onnx")
    keys = [o.key for o in reg.store.list(MODEL_BUCKET, f"{name}/")]
    assert any(f"/{CLAIMS_DIR}/" in k for k in keys) and not any(k.endswith("/" + CLAIM) for k in keys)


def _race(reg_p: Registry, reg_q: Registry, name: str, p: Path, q: Path) -> tuple[list[int], dict[str, object]]:
    """Q reads the numbers; P claims; Q claims, uploads and finishes; then P uploads and finishes.

    That is the interleaving that needs the server's help. On a server that ignores If-None-Match,
    Q's PUT of ``.claim`` overwrites P's, Q reads its own token back and the listing shows only
    ``.claim``: both hold version 1 unless claim objects are distinct (the fallback). Returns the
    versions the two claims gave, and each publisher's result (a version or the exception).
    """
    p_claimed, q_done = threading.Event(), threading.Event()
    real_p, real_q = reg_p._claim, reg_q._claim
    claimed: list[int] = []
    _first_listing(reg_q, name, lambda: p_claimed.wait(30))

    def claim_p(asked: str):
        try:
            claim = real_p(asked)
            claimed.append(claim.version)
            return claim
        finally:
            p_claimed.set()
            q_done.wait(30)

    def claim_q(asked: str):
        claim = real_q(asked)
        claimed.append(claim.version)
        return claim

    reg_p._claim, reg_q._claim = claim_p, claim_q  # type: ignore[method-assign]
    results: dict[str, object] = {}

    def publish_as(who: str, reg: Registry, d: Path) -> None:
        try:
            results[who] = publish(reg, d, name)
        except Exception as exc:  # the forced case fails one publish; the test looks at which
            results[who] = exc
        finally:
            if who == "q":
                q_done.set()

    threads = [
        threading.Thread(target=publish_as, args=("q", reg_q, q)),  # lists first, then waits for P's claim
        threading.Thread(target=publish_as, args=("p", reg_p, p)),
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return sorted(claimed), results


def test_the_racy_interleaving_on_an_ignoring_server_breaks_the_conditional_claim(
    proxy_env, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """The mutation: the fallback switched off (the conditional path forced) on a server that ignores it."""
    monkeypatch.setitem(conditional_put._answers, proxy_env.endpoint, True)
    name = unique_name()
    p, q = make_model_dir(tmp_path / "p"), make_model_dir(tmp_path / "q")
    claimed, results = _race(Registry.from_env(), Registry.from_env(), name, p, q)
    assert claimed == [1, 1]  # both publishers held version 1
    assert results["q"] == 1
    assert isinstance(results["p"], StorageError) and "taken by another publisher" in str(results["p"])
    reg = Registry.from_env()
    assert reg.versions(name) == [1]
    # P's files landed on Q's complete version before P's last check caught it: version 1 is damaged.
    with pytest.raises(IntegrityError, match="model.onnx: content does not match"):
        reg.pull(f"{name}:1", tmp_path / "out")


@pytest.mark.parametrize("through_proxy", [True, False], ids=["ignoring-server-fallback", "honouring-server"])
def test_the_racy_interleaving_gets_distinct_versions_with_the_probed_claim(
    s3_env, s3_proxy, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, through_proxy: bool
) -> None:
    if through_proxy:
        monkeypatch.setenv("MINIO_ENDPOINT", s3_proxy.endpoint)
    name = unique_name()
    p, q = make_model_dir(tmp_path / "p"), make_model_dir(tmp_path / "q")
    claimed, results = _race(Registry.from_env(), Registry.from_env(), name, p, q)
    assert claimed == [1, 2]
    assert results == {"p": 1, "q": 2}
    reg = Registry.from_env()
    for version, src in ((1, p), (2, q)):
        out = reg.pull(f"{name}:{version}", tmp_path / f"out{version}")
        assert file_sha256(out / "model.onnx") == file_sha256(src / "model.onnx")
    keys = [o.key for o in reg.store.list(MODEL_BUCKET, f"{name}/")]
    assert any(k.endswith("/" + CLAIM) for k in keys) is (not through_proxy)


@pytest.mark.parametrize("force_conditional", [False, True], ids=["fallback", "forced-conditional"])
def test_a_late_publisher_never_overwrites_a_complete_version(
    proxy_env, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, force_conditional: bool
) -> None:
    if force_conditional:  # even then, the listing after the claim shows the finished version's files
        monkeypatch.setitem(conditional_put._answers, proxy_env.endpoint, True)
    name = unique_name()
    first = Registry.from_env()
    late = Registry.from_env()
    stale = late._listing(name)  # read before the first publish: "no versions yet"
    assert publish(first, make_model_dir(tmp_path / "a"), name) == 1
    before = _files_and_card(first.store, f"{name}/1/")
    replies = [stale]
    late._listing = lambda asked: replies.pop() if replies else Registry._listing(late, asked)  # type: ignore[method-assign]
    assert publish(late, make_model_dir(tmp_path / "b"), name) == 2
    assert _files_and_card(first.store, f"{name}/1/") == before
    first.pull(f"{name}:1", tmp_path / "out")


def _files_and_card(store: Store, prefix: str) -> dict[str, str]:
    """ETag of every file and the card under ``prefix`` (claims left out: the forced path rewrites ``.claim``)."""
    return {o.key: o.etag for o in store.list(MODEL_BUCKET, prefix) if "/." not in o.key}
