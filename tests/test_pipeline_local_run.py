"""The whole pipeline through ``personseg pipeline run --local`` on 16 synthetic 64 px images.

Every step is a real kfp.local subprocess. Two runs share one real local S3 server directory
(weed mini): the first, with no ``MINIO_ENDPOINT`` set, makes the CLI start and stop the server
itself, and its impossible ``min_speedup`` must skip the deploy branch and publish nothing; the
second, against a server the test runs, has a trivial gate that both candidates pass and must publish
the faster one, deploy it to the local target, promote it to production and leave a model server
answering on 127.0.0.1.
"""

from __future__ import annotations

import hashlib
import json
import re
import urllib.request
from pathlib import Path

import pytest
from pipeline_fixtures import TINY_PARAMS

from personseg.cli import main
from personseg_kfp.local.console import MAX_LINES

# tolerable_iou_loss is part of the retrain recipe: the same in every run, so the runs share a retrain key
CANDIDATE_ROWS = ("bilinear_int8_onnxruntime", "swapped_int8_onnxruntime")
S3_VARS = ("MINIO_ENDPOINT", "AWS_ENDPOINT_URL", "MINIO_ACCESS_KEY", "MINIO_SECRET_KEY", "AWS_ACCESS_KEY_ID",
           "AWS_SECRET_ACCESS_KEY", "MINIO_SECURE")


def _cli_run(params: dict, root: Path, storage: Path, capsys: pytest.CaptureFixture) -> tuple[str, Path]:
    argv = ["pipeline", "run", "--local", "--root", str(root), "--storage-dir", str(storage)]
    for key, value in params.items():
        argv += ["--param", f"{key}={value}"]
    assert main(argv) == 0
    out = capsys.readouterr().out
    return out, Path(re.search(r"outputs in (\S+)", out).group(1))


def _metrics(run_dir: Path) -> tuple[dict, dict]:
    out = json.loads((run_dir / "evaluate" / "executor_output.json").read_text())
    return out["artifacts"]["metrics"]["artifacts"][0]["metadata"], out["parameterValues"]


def _assert_quiet(out: str, run_dir: Path, steps: list[str]) -> None:
    """One line as each step starts and ends; kfp.local's executor JSON only in the run's log file."""
    assert [line[3:] for line in out.splitlines() if line.startswith("-> ")] == steps
    ended = [line.split()[0] for line in out.splitlines() if re.match(r"   \S+ +\d+\.\d s  ", line)]
    assert ended == steps
    assert "executor_input" not in out and '"outputFile"' not in out
    log = run_dir / "pipeline.log"
    assert f"Full log: {log}" in out and "Got executor_input" in log.read_text()


def _ran(run_dir: Path) -> set[str]:
    """The tasks kfp.local ran: one folder each."""
    return {p.name for p in run_dir.iterdir() if p.is_dir()}


def _compiled_tasks(tmp_path: Path) -> set[str]:
    """Every container task of the compiled package, inside conditions too (what the cluster is given)."""
    import yaml

    from personseg_kfp.pipeline import compile_pipeline

    spec = next(yaml.safe_load_all(compile_pipeline(tmp_path / "cluster.yaml").read_text()))

    def walk(dag: dict) -> set[str]:
        found = set()
        for name, task in dag["tasks"].items():
            component = spec["components"][task["componentRef"]["name"]]
            found |= walk(component["dag"]) if "dag" in component else {name}
        return found

    return walk(spec["root"]["dag"])


def _try_the_printed_curl(out: str, tmp_path: Path) -> None:
    """The curl line works as printed (from this folder): a bundled photo in, a cutout PNG with alpha out."""
    import shutil
    import subprocess

    from PIL import Image

    if shutil.which("curl") is None:
        pytest.skip("no curl on this machine")
    command = next(line.strip() for line in out.splitlines() if line.strip().startswith("curl "))
    target = " -o grace_hopper-cutout.png"
    assert command.endswith(target)
    subprocess.run(command.replace(target, f" -o {tmp_path / 'cutout.png'}"), shell=True, check=True, timeout=60)
    with Image.open(tmp_path / "cutout.png") as png:
        assert png.format == "PNG" and png.mode == "RGBA"


def test_local_run_skips_then_deploys(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                      capsys: pytest.CaptureFixture) -> None:
    from personseg.deploy.local import stop_local
    from personseg.steps.production import production_ref
    from personseg.storage.registry import Registry
    from personseg.storage.weed import local_s3

    for var in S3_VARS:
        monkeypatch.delenv(var, raising=False)
    state = tmp_path / "deploy"
    monkeypatch.setenv("PERSONSEG_DEPLOY_STATE", str(state))
    monkeypatch.setenv("PERSONSEG_CACHE", str(tmp_path / "cache"))
    storage = tmp_path / "s3"

    out, run1 = _cli_run({**TINY_PARAMS, "min_speedup": 1e6, "tolerable_iou_loss": 0.5}, tmp_path / "runs", storage,
                         capsys)
    assert "**Gate: not deployed**" in out and "Not deployed" in out and "## Candidates" in out
    assert len(out.splitlines()) <= MAX_LINES, out  # the report's verdict, candidates and chain; the rest in its file
    _assert_quiet(out, run1, ["check-data", "ingest", "train-pod-gpus", "train", "swap", "quantize", "evaluate"])
    assert "   deploy     skipped: not deployed, no candidate passed the gate" in out
    assert "No candidate passed: bilinear:onnxruntime failed speed (" in out
    assert "; swapped:onnxruntime failed speed (" in out
    assert not (run1 / "deploy").exists()
    metrics, gate = _metrics(run1)
    assert gate["Output"] == ""  # no winner: the deploy branch's condition is false
    for name in ("bilinear", "bilinear_fp32_onnx", "swapped_fp32_onnx", *CANDIDATE_ROWS):
        assert 0 <= metrics[f"iou_{name}"] <= 1 and metrics[f"latency_ms_{name}"] > 0
    assert metrics["deploy"] == 0.0 and metrics["candidates_passed"] == 0.0
    evaluation = json.loads((run1 / "evaluate" / "evaluation").read_text())
    fastest = max(CANDIDATE_ROWS, key=lambda n: next(m["images_per_s"] for m in evaluation["models"]
                                                     if m["name"] == n.replace("_", "-")))
    assert metrics["speedup_chain_measured"] == pytest.approx(metrics[f"speedup_{fastest}"])  # its chain is shown
    index = json.loads((run1 / "quantize" / "candidates" / "candidates.json").read_text())
    assert [(c["name"], c["status"]) for c in index["candidates"]] == [("bilinear:onnxruntime", "ok"),
                                                                      ("swapped:onnxruntime", "ok")]
    for network in ("bilinear", "swapped"):
        config = json.loads((run1 / "quantize" / "candidates" / f"{network}-int8-onnxruntime" / "config.json")
                            .read_text())
        assert config["precision"] == "int8" and config["source"]["arch"]["name"] == \
            {"bilinear": "unet", "swapped": "unet-swapped"}[network]
    assert (run1 / "train" / "model" / "model.safetensors").is_file()
    assert not (run1 / "train" / "model.ckpt").exists()  # per-epoch state stays out of the artifacts
    gallery = (run1 / "evaluate" / "gallery").read_text()
    assert gallery.count("data:image/png;base64,") >= 6 and "<svg" in gallery
    # the second evaluation set (the committed real photographs by default) is in report, metrics and gallery
    assert "## Second evaluation set: real (4 images)" in (run1 / "evaluate" / "report").read_text()
    assert 0 <= metrics["iou_extra_swapped_int8_onnxruntime"] <= 1
    assert "Second evaluation set: real" in gallery and "grace_hopper" in gallery
    assert [m["name"] for m in evaluation["models"]] == ["bilinear", "bilinear-fp32-onnx", "swapped-fp32-onnx",
                                                         "bilinear-int8-onnxruntime", "swapped-int8-onnxruntime"]
    assert evaluation["winner"] == "" and evaluation["gate"]["deploy"] is False
    for cand in evaluation["candidates"]:
        assert "speed FAILED" in cand["gate"]["summary"] and cand["gate"]["checks"]["production"]["passed"] is True

    with local_s3(storage, set_env=True):  # same directory: the registry the first run saw
        assert production_ref("tiny-seg") is None
        try:
            out, run2 = _cli_run({**TINY_PARAMS, "min_speedup": 0.01, "tolerable_iou_loss": 0.5}, tmp_path / "runs",
                                 storage, capsys)
            evaluation = json.loads((run2 / "evaluate" / "evaluation").read_text())
            speed = {m["name"]: m["images_per_s"] for m in evaluation["models"]}
            passed = [c for c in evaluation["candidates"] if c["passed"]]
            assert len(passed) == 2  # both pass a lax gate, so the faster one must win
            winner = max(passed, key=lambda c: speed[c["model"]])
            assert evaluation["winner"] == winner["name"] and _metrics(run2)[1]["Output"] == winner["name"]
            assert f"**Gate: deploy {winner['name']}**" in out and "fastest of the 2 that passed" in out
            assert len(out.splitlines()) <= MAX_LINES, out
            result = json.loads((run2 / "deploy" / "result").read_text())
            assert result["status"] == "deployed" and result["target"] == "local"
            assert result["pinned_model"] == "models:/tiny-seg:1"
            assert f"the model answers at {result['endpoint']}" in out
            _assert_quiet(out, run2, ["check-data", "ingest", "train-pod-gpus", "train", "swap", "quantize", "evaluate",
                                     "deploy"])
            # every condition held, so the local run ran every task of the graph a cluster is given
            assert _ran(run2) == _compiled_tasks(tmp_path)
            assert f"deployed models:/tiny-seg:1 (local) at {result['endpoint']}" in out
            _try_the_printed_curl(out, tmp_path)
            with urllib.request.urlopen(result["endpoint"] + "/v2/health/ready", timeout=10) as resp:
                assert resp.status == 200
            registry = Registry.from_env()
            assert registry.stage("tiny-seg", "production") == 1
            card = registry.card("tiny-seg", 1)
            assert card["gate"]["deploy"] is True and card["evaluation"]["speedup"] >= 0.01
            assert card["candidate"] == {k: winner[k] for k in ("name", "network", "runtime")}
            # the published files are the winner's model, byte for byte
            published = run2 / "quantize" / "candidates" / winner["model"] / "model.onnx"
            assert card["files"]["model.onnx"]["sha256"] == hashlib.sha256(published.read_bytes()).hexdigest()
            assert production_ref("tiny-seg") == "models:/tiny-seg:1"
            assert card["training"]["dataset_uri"] == "synthetic:16" and len(card["training"]["data_fingerprint"]) == 64
            # both runs' ingests were keyed on the same fingerprint (KFP's cache key on a cluster)
            keys = [json.loads((r / "ingest" / "executor_output.json").read_text())["artifacts"]["data"]["artifacts"][0]
                    ["metadata"]["retrain_key"] for r in (run1, run2)]
            assert keys[0] == keys[1] and keys[0].startswith(f"data={card['training']['data_fingerprint']};")

            # the same data and recipe again (a scheduled run with nothing new): no training, says why
            out, run3 = _cli_run({**TINY_PARAMS, "min_speedup": 0.01, "tolerable_iou_loss": 0.5}, tmp_path / "runs",
                                 storage, capsys)
            assert "No new data since version 1" in out and "Nothing trained (no new data)" in out
            _assert_quiet(out, run3, ["check-data"])
            assert "   (rest)     skipped: no new data, nothing to train" in out
            assert (run3 / "check-data").is_dir() and not (run3 / "ingest").exists() and not (run3 / "train").exists()
        finally:
            stop_local(state, "tiny-seg")
