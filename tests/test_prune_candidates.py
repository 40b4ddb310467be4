"""A pruned network through the pipeline's steps: swap (prune + distil), quantize, serve, gate.

The seed is the tiny bilinear model (width 8, 64x64). ``prune50`` with one epoch of distillation is the
candidate that should get through; ``prune90`` with no fine-tuning keeps one or two channels per layer
and genuinely loses accuracy, so the gate must turn it down on the seed check even though its INT8
model is faithful to its own FP32 network.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from personseg.steps.candidates import candidate_dir
from personseg.steps.quantize import CandidatesConfig, quantize_candidates
from personseg.swap.step import SwapConfig, run

pytestmark = pytest.mark.slow  # three swaps, three quantizations and an evaluation: minutes on 2 cores

QUICK = {"calibration": 16, "max_trials": 1, "max_fallbacks": 0, "tolerable_iou_loss": 0.05}


def _prune(model: Path, data: Path, out: Path, ratio: float, epochs: int) -> Path:
    run(SwapConfig(model=str(model), data=str(data), design="prune", ratio=ratio, epochs=epochs, lr=3e-3), out)
    return out


@pytest.fixture(scope="module")
def pruned(tiny_model: Path, tiny_dataset: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _prune(tiny_model, tiny_dataset, tmp_path_factory.mktemp("prune") / "prune50", 0.5, epochs=1)


def test_the_pruned_model_is_saved_with_its_arch_and_distillation_report(pruned: Path) -> None:
    from personseg.models.checkpoint import load_model

    config = json.loads((pruned / "config.json").read_text())
    assert config["arch"] == {"name": "unet-pruned", "width": 8, "ratio": 0.5}
    metrics = json.loads((pruned / "metrics.json").read_text())
    assert metrics["design"] == "prune" and metrics["ratio"] == 0.5 and len(metrics["history"]) == 1
    assert metrics["fine_tune"] in ("kept", "reverted")
    assert metrics["val_iou_swapped"] >= metrics["val_iou_swapped_initial"]  # never worse than the pruned start
    model = load_model(pruned)
    assert model.inc.double_conv[0].out_channels == 4 and model.outc.conv.in_channels == 4


def test_the_pruned_model_exports_quantizes_and_serves(pruned: Path, tiny_dataset: Path, tmp_path: Path) -> None:
    from personseg.runtime import load_predictor

    cfg = CandidatesConfig(candidates="swapped:onnxruntime,swapped:openvino", data=str(tiny_dataset), **QUICK)
    index = quantize_candidates({"swapped": pruned}, cfg, tmp_path / "c")
    assert [(c["name"], c["status"]) for c in index["candidates"]] == [("swapped:onnxruntime", "ok"),
                                                                      ("swapped:openvino", "ok")]
    assert index["networks"]["swapped"]["settings"]["swap"]["ratio"] == 0.5
    batch = np.random.default_rng(0).random((2, 3, 64, 64), dtype=np.float32)
    for name in ("swapped:onnxruntime", "swapped:openvino"):
        predictor = load_predictor(candidate_dir(tmp_path / "c", name))
        assert (predictor.info.precision, predictor.info.arch["name"]) == ("int8", "unet-pruned")
        logits = predictor.logits(batch)
        assert logits.shape == (2, 1, 64, 64) and np.isfinite(logits).all()


def test_the_gate_turns_down_a_pruned_network_that_lost_accuracy(tiny_model: Path, tiny_dataset: Path,
                                                                 tmp_path: Path, monkeypatch: pytest.MonkeyPatch
                                                                 ) -> None:
    from personseg.steps.evaluate import evaluate_candidates

    for var in ("MINIO_ENDPOINT", "AWS_ENDPOINT_URL"):
        monkeypatch.delenv(var, raising=False)  # no registry: no production model to beat
    lossy = _prune(tiny_model, tiny_dataset, tmp_path / "prune90", 0.9, epochs=0)
    cfg = CandidatesConfig(candidates="swapped:onnxruntime", data=str(tiny_dataset), **QUICK)
    quantize_candidates({"swapped": lossy}, cfg, tmp_path / "c")
    tolerance = 0.02  # the pipeline's default
    outcome = evaluate_candidates(tiny_dataset, tiny_model, tmp_path / "c", "tiny", tolerable_iou_loss=tolerance,
                                  min_speedup=0.01, rounds=1, report_json=tmp_path / "evaluation.json")
    rows = {m["name"]: m for m in outcome.result["models"]}
    seed, pruned = rows["bilinear"]["iou"], rows["swapped-int8-onnxruntime"]["iou"]
    assert pruned < seed - tolerance  # the loss is real, measured on the test split
    verdict = outcome.selection.verdict("swapped:onnxruntime")
    assert not verdict.passed and not verdict.decision.checks["seed"].passed
    assert outcome.winner == "" and "**Gate: not deployed**" in outcome.markdown
