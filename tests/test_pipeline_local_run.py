"""The whole pipeline through kfp.local (every step a real subprocess) on 16 synthetic 64 px images.

Two runs against one real local S3 server (weed mini): an impossible ``min_speedup`` must skip the
deploy branch and publish nothing; a trivial one must publish, deploy to the local target, promote
to production and leave a server answering on 127.0.0.1.
"""

from __future__ import annotations

import json
import urllib.request
from pathlib import Path

import pytest
from pipeline_fixtures import TINY_PARAMS

MODELS = ("bilinear", "swapped", "onnx_fp32", "int8")


def _metrics(run_dir: Path) -> dict:
    out = json.loads((run_dir / "evaluate" / "executor_output.json").read_text())
    return out["artifacts"]["metrics"]["artifacts"][0]["metadata"], out["parameterValues"]


def test_local_run_skips_then_deploys(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from personseg.deploy.local import stop_local
    from personseg.pipeline_logic.production import production_ref
    from personseg.storage.registry import Registry
    from personseg.storage.server import local_s3
    from pipelines.local import run_local

    state = tmp_path / "deploy"
    monkeypatch.setenv("PERSONSEG_DEPLOY_STATE", str(state))
    monkeypatch.setenv("PERSONSEG_CACHE", str(tmp_path / "cache"))
    with local_s3(tmp_path / "s3", set_env=True):
        try:
            skipped = run_local({**TINY_PARAMS, "min_speedup": 1e6}, tmp_path / "run1")
            run1 = skipped.report.parent.parent
            report = skipped.report.read_text()
            assert "**Gate: not deployed**" in report and "**speed**: failed" in report
            assert "| quantize | swapped INT8 (ONNX Runtime) |" in report
            assert not (run1 / "deploy").exists()
            metrics, gate = _metrics(run1)
            assert gate["Output"] is False
            assert "speed FAILED" in json.loads((run1 / "evaluate" / "evaluation").read_text())["gate"]["summary"]
            for name in ("bilinear", "swapped", "onnx_fp32", "int8"):
                assert 0 <= metrics[f"iou_{name}"] <= 1 and metrics[f"latency_ms_{name}"] > 0
            assert metrics["deploy"] == 0.0
            assert metrics["speedup_chain_measured"] == pytest.approx(metrics["speedup_int8"])
            assert json.loads((run1 / "quantize" / "int8" / "config.json").read_text())["precision"] == "int8"
            assert (run1 / "train" / "model" / "model.safetensors").is_file()
            gallery = (run1 / "evaluate" / "gallery").read_text()
            assert gallery.count("data:image/png;base64,") >= 6 and "<svg" in gallery
            evaluation = json.loads((run1 / "evaluate" / "evaluation").read_text())
            assert [m["name"] for m in evaluation["models"]] == ["bilinear", "swapped", "onnx-fp32", "int8"]
            assert evaluation["gate"]["checks"]["production"]["passed"] is True
            assert production_ref("tiny-seg") is None

            deployed = run_local({**TINY_PARAMS, "min_speedup": 0.01}, tmp_path / "run2")
            run2 = deployed.report.parent.parent
            assert "**Gate: deploy**" in deployed.report.read_text()
            result = json.loads((run2 / "deploy" / "result").read_text())
            assert result["status"] == "deployed" and result["target"] == "local"
            assert result["pinned_model"] == "models:/tiny-seg:1"
            with urllib.request.urlopen(result["endpoint"] + "/v2/health/ready", timeout=10) as resp:
                assert resp.status == 200
            registry = Registry.from_env()
            assert registry.stage("tiny-seg", "production") == 1
            card = registry.card("tiny-seg", 1)
            assert card["gate"]["deploy"] is True and card["evaluation"]["speedup"] >= 0.01
            assert production_ref("tiny-seg") == "models:/tiny-seg:1"
        finally:
            stop_local(state, "tiny-seg")
