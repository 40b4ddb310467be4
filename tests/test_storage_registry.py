"""The model registry on a real local S3 server: publish, list, promote, roll back, pull, verify."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import os
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
import storage_fixtures
from storage_fixtures import MODEL_BUCKET, make_model_dir, publish, run_concurrently, unique_name

from personseg.cli import main
from personseg.errors import UserError
from personseg.hashing import file_sha256, tree_sha256
from personseg.modeldir import read_model_dir
from personseg.storage.card import CARD
from personseg.storage.errors import IntegrityError, MissingKey
from personseg.storage.registry import Registry
from personseg.uris import local_model

# The real-server fixtures, bound here so pytest finds them in this module.
s3_server = storage_fixtures.s3_server
s3_env = storage_fixtures.s3_env


def test_publish_list_promote_rollback_pull(s3_env, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KFP_RUN_ID", "run-42")
    reg = Registry.from_env()
    name = unique_name()
    dirs = [make_model_dir(tmp_path / f"v{i}", metrics={"miou": 0.7 + i / 100}) for i in range(3)]
    assert [publish(reg, d, name) for d in dirs] == [1, 2, 3]
    assert reg.versions(name) == [1, 2, 3]
    assert name in reg.names()

    card = reg.card(name, 2)
    assert (card["name"], card["version"], card["pipeline_run_id"]) == (name, 2, "run-42")
    assert card["dataset"] == {"uri": "s3://datasets/tiny", "sha256": "d" * 64}
    assert card["calibration"] == {"sha256": "c" * 64}
    assert card["metrics"] == {"miou": 0.71}
    assert card["git"] is None or len(card["git"]["commit"]) == 40
    assert card["cpu"]["flags"] and card["cpu"]["model"]
    assert card["model"]["kind"] == "onnx" and card["model"]["precision"] == "int8"
    assert card["files"] == {
        rel: {"sha256": file_sha256(dirs[1] / rel), "size": (dirs[1] / rel).stat().st_size}
        for rel in ("config.json", "metrics.json", "model.onnx")
    }

    assert reg.stage(name, "production") is None
    reg.promote(name, 3, "production")
    reg.promote(name, 2, "candidate")
    assert reg.resolve(f"models:/{name}@production") == (name, 3)
    assert reg.resolve(f"{name}@candidate") == (name, 2)
    assert reg.resolve(name) == (name, 3)
    assert reg.resolve(f"models:/{name}:1") == (name, 1)

    out = reg.pull(f"{name}@production", tmp_path / "pulled")
    assert (out / "model.onnx").read_bytes() == (dirs[2] / "model.onnx").read_bytes()
    assert json.loads((out / CARD).read_text())["version"] == 3
    assert read_model_dir(out).kind == "onnx"

    reg.promote(name, 1, "production")  # roll back: one pointer write
    assert reg.stage(name, "production") == 1
    with pytest.raises(UserError, match="pulled: already exists and is not empty; pass --force"):
        reg.pull(f"{name}@production", tmp_path / "pulled")
    back = reg.pull(f"{name}@production", tmp_path / "pulled", force=True)  # replaces the old pull atomically
    assert (back / "model.onnx").read_bytes() == (dirs[0] / "model.onnx").read_bytes()
    pointer = reg.store.get_json(MODEL_BUCKET, f"{name}/_stages/production.json")
    assert (pointer["version"], pointer["previous"]) == (1, 3)


def test_a_fresh_store_lists_no_models(s3_env, capsys: pytest.CaptureFixture) -> None:
    fresh = f"fresh-{unique_name()}"  # a bucket nobody created: nothing was ever published
    assert main(["models", "list", "--bucket", fresh]) == 0
    listed = capsys.readouterr()
    assert listed.out == "" and listed.err == f"no models in s3://{fresh} at {s3_env.endpoint}\n"
    assert main(["models", "list", "personseg", "--bucket", fresh]) == 2
    assert "model personseg: no complete versions in" in capsys.readouterr().err


def test_training_state_is_not_published(s3_env, tmp_path: Path) -> None:
    model = make_model_dir(tmp_path / "m")
    (model / "train_state.pt").write_bytes(os.urandom(2048))  # what `personseg train` leaves beside the model
    reg, name = Registry.from_env(), unique_name()
    version = publish(reg, model, name)
    assert "train_state.pt" not in reg.card(name, version)["files"]
    assert not (reg.pull(f"{name}:{version}", tmp_path / "pulled") / "train_state.pt").exists()


def test_refuses_unknown_versions_and_unset_stages(s3_env, tmp_path: Path) -> None:
    reg = Registry.from_env()
    name = unique_name()
    with pytest.raises(MissingKey, match="no complete version"):
        reg.resolve(name)
    publish(reg, make_model_dir(tmp_path / "m"), name)
    with pytest.raises(MissingKey, match="no version of .* is promoted to production"):
        reg.resolve(f"models:/{name}@production")
    with pytest.raises(MissingKey, match=r"complete versions: 1"):
        reg.resolve(f"{name}:7")
    with pytest.raises(MissingKey, match="cannot promote"):
        reg.promote(name, 9)
    with pytest.raises(UserError, match="stage 'prod'"):
        reg.promote(name, 1, "prod")
    with pytest.raises(UserError, match="no config.json"):
        publish(reg, tmp_path, name)
    with pytest.raises(UserError, match="set by the registry"):
        publish(reg, tmp_path / "m", name, card={"files": {}})


def test_model_refs_through_uris_local_model(s3_env, tmp_path: Path) -> None:
    reg = Registry.from_env()
    name = unique_name()
    first = make_model_dir(tmp_path / "a")
    second = make_model_dir(tmp_path / "b")
    publish(reg, first, name)
    publish(reg, second, name)
    reg.promote(name, 1)

    prod = local_model(f"models:/{name}@production")
    assert (prod / "model.onnx").read_bytes() == (first / "model.onnx").read_bytes()
    assert local_model(f"models:/{name}:1") == prod  # cached: same content, same directory
    latest = local_model(f"models:/{name}")
    assert (latest / "model.onnx").read_bytes() == (second / "model.onnx").read_bytes()
    assert tree_sha256(latest) == latest.name  # content-addressed
    plain = local_model(f"s3://{MODEL_BUCKET}/{name}/2")  # a plain prefix with a card works too
    assert plain == latest

    reg.promote(name, 2)  # the stage moved: the same reference now yields the other model
    assert local_model(f"models:/{name}@production") == latest


def test_sha256_mismatch_is_detected_on_pull(s3_env, tmp_path: Path) -> None:
    reg = Registry.from_env()
    name = unique_name()
    publish(reg, make_model_dir(tmp_path / "m"), name)
    reg.store.put_bytes(MODEL_BUCKET, f"{name}/1/model.onnx", b"tampered weights")  # behind the registry's back
    with pytest.raises(IntegrityError, match=r"model.onnx: content does not match"):
        reg.pull(name, tmp_path / "out")
    assert not (tmp_path / "out").exists()
    with pytest.raises(IntegrityError):
        local_model(f"models:/{name}:1")
    cache = Path(os.environ["PERSONSEG_CACHE"]) / "models"
    assert not cache.exists() or [p.name for p in cache.iterdir()] == []


def test_twenty_megabyte_model_goes_multipart(s3_env, tmp_path: Path) -> None:
    reg = Registry.from_env()
    name = unique_name()
    weights = os.urandom(20 * 1024 * 1024)
    version = publish(reg, make_model_dir(tmp_path / "big", weights=weights), name)
    stat = reg.store.client.stat_object(MODEL_BUCKET, f"{name}/{version}/model.onnx")
    assert stat.size == len(weights)
    assert stat.etag.rsplit("-", 1)[-1] == "4"  # S3 multipart ETag: md5-of-part-md5s "-" part count
    out = reg.pull(f"{name}:{version}", tmp_path / "out")
    assert file_sha256(out / "model.onnx") == hashlib.sha256(weights).hexdigest()


def test_presigned_links_work_then_expire(s3_env, tmp_path: Path) -> None:
    reg = Registry.from_env()
    name = unique_name()
    src = make_model_dir(tmp_path / "m")
    publish(reg, src, name)
    links = reg.presign(name, 1, dt.timedelta(seconds=2))
    assert sorted(links) == ["config.json", "metrics.json", "model-card.json", "model.onnx"]
    assert "X-Amz-Expires=2" in links["model.onnx"]
    with urllib.request.urlopen(links["model.onnx"], timeout=5) as resp:  # no credentials needed
        assert resp.read() == (src / "model.onnx").read_bytes()
    time.sleep(3.1)
    with pytest.raises(urllib.error.HTTPError) as err:
        urllib.request.urlopen(links["model.onnx"], timeout=5)
    assert err.value.code == 403
    with pytest.raises(UserError, match="between 1 second and 7 days"):
        reg.presign(name, 1, dt.timedelta(days=8))


def test_mark_records_status_without_touching_the_card(s3_env, tmp_path: Path) -> None:
    reg = Registry.from_env()
    name = unique_name()
    publish(reg, make_model_dir(tmp_path / "m"), name)
    card_before = reg.store.get_bytes(MODEL_BUCKET, f"{name}/1/{CARD}")
    assert reg.status(name, 1) is None
    reg.mark(name, 1, "deployed", "kserve personseg-prod")
    reg.mark(name, 1, "rolled-back", "p95 latency over budget")
    status = reg.status(name, 1)
    assert (status["status"], status["detail"]) == ("rolled-back", "p95 latency over budget")
    assert [h["status"] for h in status["history"]] == ["deployed"]
    assert reg.store.get_bytes(MODEL_BUCKET, f"{name}/1/{CARD}") == card_before
    assert reg.versions(name) == [1]
    with pytest.raises(UserError, match="status 'Deployed!'"):
        reg.mark(name, 1, "Deployed!")
    with pytest.raises(MissingKey):
        reg.mark(name, 5, "deployed")


def test_concurrent_publishers_get_distinct_versions(s3_env, tmp_path: Path) -> None:
    name = unique_name()
    dirs = [make_model_dir(tmp_path / f"m{i}") for i in range(4)]
    got: list[int] = []
    assert run_concurrently(lambda d: got.append(publish(Registry.from_env(), d, name)), dirs) == []
    assert sorted(got) == [1, 2, 3, 4]
    reg = Registry.from_env()
    by_version = {v: reg.card(name, v)["files"]["model.onnx"]["sha256"] for v in got}
    assert sorted(by_version.values()) == sorted(file_sha256(d / "model.onnx") for d in dirs)


def test_conditional_put_is_honoured_by_the_server(s3_env) -> None:
    store = Registry.from_env().store
    key = f"{unique_name()}/1/.claim"
    assert store.put_if_absent(MODEL_BUCKET, key, b"first") is True
    assert store.put_if_absent(MODEL_BUCKET, key, b"second") is False
    assert store.get_bytes(MODEL_BUCKET, key) == b"first"


def test_cli_models_commands(s3_env, tmp_path: Path, capsys: pytest.CaptureFixture,
                             caplog: pytest.LogCaptureFixture) -> None:
    name = unique_name()
    a, b = make_model_dir(tmp_path / "a"), make_model_dir(tmp_path / "b")
    assert main(["models", "publish", str(a), "--name", name, "--run-id", "kfp-7"]) == 0
    assert capsys.readouterr().out.strip() == "1"
    assert main(["models", "publish", str(b), "--name", name, "--stage", "candidate"]) == 0
    assert capsys.readouterr().out.strip() == "2"
    caplog.set_level(logging.INFO)
    assert main(["models", "promote", name, "1", "--stage", "production"]) == 0
    promoted = capsys.readouterr()
    assert promoted.out == f"{name}@production: - -> 1\n" and "-> 1" not in promoted.err
    assert not [r for r in caplog.records if r.levelno >= logging.INFO and "-> 1" in r.getMessage()]  # said once

    assert main(["models", "list", name]) == 0
    header, *rows = [line.split("\t") for line in capsys.readouterr().out.strip().splitlines()]
    assert header == ["VERSION", "CREATED", "STAGES", "DEPLOY"]
    assert [(r[0], r[2]) for r in rows] == [("1", "production"), ("2", "candidate")]
    assert main(["models", "list"]) == 0
    listed = capsys.readouterr().out.splitlines()
    assert listed[0] == "NAME\tVERSIONS\tLATEST\tSTAGES"
    assert f"{name}\t2\t2\tcandidate=2 production=1" in listed

    assert main(["models", "show", f"models:/{name}@production", "--json"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["card"]["pipeline_run_id"] == "kfp-7" and shown["stages"] == {"production": 1}
    assert main(["models", "show", f"models:/{name}@production"]) == 0
    summary = capsys.readouterr().out
    assert summary.startswith(f"{name}:1   stages: production   deploy: never deployed\n")
    assert "pipeline run kfp-7" in summary and "metrics      miou 0.8100, ms 12.5000" in summary
    assert len(summary.splitlines()) <= 12 and "avx" not in summary and "mask_png_b64" not in summary
    flags = len(shown["card"]["cpu"]["flags"])
    assert flags > 10 and f"({flags} flags in --json)" in summary

    out = tmp_path / "out"
    assert main(["models", "pull", f"{name}:2", str(out)]) == 0
    assert capsys.readouterr().out.strip() == str(out)
    assert (out / "model.onnx").read_bytes() == (b / "model.onnx").read_bytes()
    assert main(["models", "pull", f"{name}:1", str(out)]) == 2
    assert "already exists" in capsys.readouterr().err
    assert main(["models", "pull", f"{name}:1", str(out), "--force"]) == 0
    assert capsys.readouterr().out.strip() == str(out)
    assert (out / "model.onnx").read_bytes() == (a / "model.onnx").read_bytes()

    assert main(["models", "presign", f"{name}@candidate", "--expires", "60"]) == 0
    links = dict(line.split("\t") for line in capsys.readouterr().out.strip().splitlines())
    with urllib.request.urlopen(links["model.onnx"], timeout=5) as resp:
        assert resp.read() == (b / "model.onnx").read_bytes()

    assert main(["models", "show", f"{name}:9"]) == 2
    assert f"models:/{name}:9: no such complete version" in capsys.readouterr().err
