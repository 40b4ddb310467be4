"""Concurrent writers of one registry pointer on a real S3 server: compare-and-swap keeps every write.

Before, ``promote`` read the stage, then wrote it: two promotions that read the same old pointer both
"succeeded" and one vanished from the chain of ``previous`` versions; ``mark`` lost history entries
the same way.
"""

from __future__ import annotations

import threading
from pathlib import Path

import storage_fixtures
from storage_fixtures import MODEL_BUCKET, make_model_dir, publish, run_concurrently, unique_name

from personseg.storage.client import Store
from personseg.storage.registry import Registry

s3_server = storage_fixtures.s3_server
s3_env = storage_fixtures.s3_env

TRIALS = 12


def test_concurrent_promotions_of_one_stage_lose_none(s3_env, tmp_path: Path) -> None:
    name = unique_name()
    first = Registry.from_env()
    for i in range(3):
        publish(first, make_model_dir(tmp_path / f"v{i}"), name)
    registries = [Registry.from_env(), Registry.from_env()]  # two clients, as two processes would be
    for trial in range(TRIALS):
        first.promote(name, 3, "production")
        start = threading.Barrier(2)

        def promote(args: tuple[Registry, int]) -> None:
            reg, version = args
            start.wait()
            reg.promote(name, version, "production")

        assert run_concurrently(promote, [(registries[0], 1), (registries[1], 2)]) == []
        pointer = Store.from_env().get_json(MODEL_BUCKET, f"{name}/_stages/production.json")
        # Whichever landed last must name the other as the version it replaced: both are in the chain.
        assert {pointer["version"], pointer["previous"]} == {1, 2}, f"trial {trial}: a promotion was lost: {pointer}"


def test_concurrent_status_marks_keep_every_entry(s3_env, tmp_path: Path) -> None:
    name = unique_name()
    reg = Registry.from_env()
    publish(reg, make_model_dir(tmp_path / "v"), name)
    statuses = [f"s{i}" for i in range(6)]
    start = threading.Barrier(len(statuses))

    def mark(status: str) -> None:
        start.wait()
        Registry.from_env().mark(name, 1, status)

    assert run_concurrently(mark, statuses) == []
    entry = reg.status(name, 1)
    seen = [entry["status"], *(h["status"] for h in entry["history"])]
    assert sorted(seen) == statuses


def test_compare_and_swap_refuses_a_stale_etag(s3_env) -> None:
    store = Store.from_env()
    key = f"{unique_name()}/_stages/production.json"
    assert store.put_if_match(MODEL_BUCKET, key, b"{}", None)
    assert not store.put_if_match(MODEL_BUCKET, key, b'{"v": 1}', None)  # exists now
    data, etag = store.get_versioned(MODEL_BUCKET, key)
    assert store.put_if_match(MODEL_BUCKET, key, b'{"v": 2}', etag)
    assert not store.put_if_match(MODEL_BUCKET, key, b'{"v": 3}', etag)  # etag is stale
    assert store.get_bytes(MODEL_BUCKET, key) == b'{"v": 2}'
    assert store.get_versioned(MODEL_BUCKET, key + ".missing") is None
