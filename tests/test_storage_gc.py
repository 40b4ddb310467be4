"""`personseg models gc` on a real server: interrupted publishes go, complete and young versions stay."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
import storage_fixtures
import storage_proxy
from storage_fixtures import MODEL_BUCKET, make_model_dir, publish, unique_name

from personseg.cli import main
from personseg.storage.card import CARD
from personseg.storage.claims import CLAIM, CLAIMS_DIR, TOMBSTONE
from personseg.storage.conditional_put import PROBE_PREFIX
from personseg.storage.errors import StorageError
from personseg.storage.gc import collect, parse_age
from personseg.storage.registry import Registry

# The real-server fixtures, bound here so pytest finds them in this module.
s3_server = storage_fixtures.s3_server
s3_env = storage_fixtures.s3_env
s3_proxy = storage_proxy.s3_proxy
proxy_env = storage_proxy.proxy_env


def _keys(reg: Registry, prefix: str) -> list[str]:
    return sorted(o.key for o in reg.store.list(MODEL_BUCKET, prefix))


def _interrupted(reg: Registry, name: str, version: int) -> list[str]:
    """What a publish killed after its claim and one file leaves: no card."""
    keys = [f"{name}/{version}/{CLAIMS_DIR}/dead-publisher", f"{name}/{version}/model.onnx"]
    for key in keys:
        reg.store.put_bytes(MODEL_BUCKET, key, b"partial")
    return keys


def test_gc_removes_an_interrupted_publish_and_keeps_complete_and_young_versions(
    s3_env, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    reg = Registry.from_env()
    name = unique_name()
    src = make_model_dir(tmp_path / "m")
    assert publish(reg, src, name) == 1
    stale_claim = f"{name}/1/{CLAIMS_DIR}/lost-and-died"  # a loser that died before deleting its claim
    reg.store.put_bytes(MODEL_BUCKET, stale_claim, b"{}")
    probe_left = f"{PROBE_PREFIX}killed-mid-probe-{name}"
    reg.store.put_bytes(MODEL_BUCKET, probe_left, b"probe")
    partial = _interrupted(reg, name, 2)
    complete = [k for k in _keys(reg, f"{name}/1/") if k != stale_claim]
    everything = _keys(reg, f"{name}/") + [probe_left]

    assert main(["models", "gc", name]) == 0  # default --older-than 1h: all of it is seconds old
    out = capsys.readouterr().out
    assert f"kept\ts3://{MODEL_BUCKET}/{name}/2/\tincomplete" in out and "may be a publish running" in out
    assert f"{name}: removed 0 object(s), kept 1 incomplete version(s) (--older-than 1h)" in out
    assert _keys(reg, f"{name}/") + [probe_left] == everything

    assert main(["models", "gc", name, "--older-than", "0", "--dry-run"]) == 0
    lines = capsys.readouterr().out.splitlines()
    would = sorted(line.split("\t")[1] for line in lines if line.startswith("would remove\t"))
    assert would == sorted(f"s3://{MODEL_BUCKET}/{k}" for k in [*partial, stale_claim, probe_left])
    assert _keys(reg, f"{name}/") + [probe_left] == everything  # a dry run removes nothing

    assert main(["models", "gc", name, "--older-than", "0"]) == 0
    lines = capsys.readouterr().out.splitlines()
    removed = sorted(line.split("\t")[1] for line in lines if line.startswith("removed\t"))
    assert removed == would
    assert f"{name}: removed 4 object(s), kept 0 incomplete version(s) (--older-than 0s)" in lines
    assert _keys(reg, f"{name}/2/") == [f"{name}/2/{TOMBSTONE}"]
    assert _keys(reg, f"{name}/1/") == complete and f"{name}/1/{CLAIM}" in complete
    assert not reg.store.exists(MODEL_BUCKET, probe_left)
    reg.pull(f"{name}:1", tmp_path / "out")  # the complete version still verifies

    assert publish(reg, make_model_dir(tmp_path / "n"), name) == 3  # the collected number is never reused
    assert main(["models", "gc", name, "--older-than", "0"]) == 0
    assert f"{name}: removed 0 object(s)" in capsys.readouterr().out
    assert reg.versions(name) == [1, 3]


def test_gc_ages_objects_by_the_server_clock(s3_env) -> None:
    reg = Registry.from_env()
    name = unique_name()
    old = _interrupted(reg, name, 1)
    time.sleep(2.5)  # LastModified and Date have one-second resolution
    young = _interrupted(reg, name, 2)
    report = collect(reg.store, MODEL_BUCKET, name, parse_age("2s"))
    assert sorted(f.key for f in report.removed) == sorted(old)
    assert [f.key for f in report.kept] == [f"{name}/2/"]
    assert all(reg.store.exists(MODEL_BUCKET, k) for k in young)


@pytest.mark.parametrize("through_proxy", [False, True], ids=["conditional", "fallback"])
def test_a_publish_whose_version_was_collected_fails_before_its_card(
    s3_env, s3_proxy, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, through_proxy: bool
) -> None:
    if through_proxy:
        monkeypatch.setenv("MINIO_ENDPOINT", s3_proxy.endpoint)
    reg = Registry.from_env()
    name = unique_name()
    real_claim = reg._claim

    def claim_then_stall(asked: str):  # the publish stalls past --older-than and gc runs meanwhile
        claim = real_claim(asked)
        reg.store.put_bytes(MODEL_BUCKET, f"{claim.prefix}config.json", b"{}")
        assert [f.key for f in collect(reg.store, MODEL_BUCKET, name, parse_age("0")).removed][0] == claim.key
        return claim

    reg._claim = claim_then_stall  # type: ignore[method-assign]
    with pytest.raises(StorageError, match=r"/1/: the claim on version 1 is gone .*not writing the model card"):
        publish(reg, make_model_dir(tmp_path / "m"), name)
    assert not reg.store.exists(MODEL_BUCKET, f"{name}/1/{CARD}")
    assert reg.versions(name) == []
    assert publish(Registry.from_env(), make_model_dir(tmp_path / "n"), name) == 2


def test_gc_rejects_a_bad_age(s3_env, capsys: pytest.CaptureFixture) -> None:
    assert main(["models", "gc", unique_name(), "--older-than", "1 hour"]) == 2
    assert "--older-than '1 hour': use a whole number with s, m, h or d" in capsys.readouterr().err
