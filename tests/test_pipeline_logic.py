"""Unit tests of the pipeline's decisions and reports (personseg.steps; no kfp involved)."""

from __future__ import annotations

import base64
import io
import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from pipeline_fixtures import BIL_INT8, SWP_FP32, SWP_INT8, candidates_index, eval_result, production

from personseg.errors import UserError
from personseg.steps import gallery, summary
from personseg.steps.gate import decide, model_row
from personseg.steps.ingest import materialize
from personseg.steps.selection import Selection, judge, select
from personseg.steps.storage_env import use_endpoint

SWAPPED = {"candidate": SWP_INT8, "fp32": SWP_FP32}


def _result(int8_iou: float = 0.80, int8_ms: float = 20.0) -> dict:
    """The swapped INT8 candidate at ``int8_iou``/``int8_ms``; its FP32 ONNX is 0.81 at 50 ms, the seed 200 ms."""
    return eval_result(swp_int8=(int8_iou, int8_ms))


def _selection(result: dict, **gate: float) -> Selection:
    args = {"tolerable_iou_loss": 0.02, "min_speedup": 2.0, **gate}
    return select(judge(candidates_index(), result, **args), result)


def test_gate_passes_when_accurate_fast_and_no_production() -> None:
    decision = decide(_result(), tolerable_iou_loss=0.02, min_speedup=2.0, **SWAPPED)
    assert decision.deploy
    assert decision.checks["speed"].detail.startswith(f"{SWP_INT8} 2.50x over {SWP_FP32}")
    assert "end to end 10.00x over bilinear" in decision.checks["speed"].detail
    assert decision.summary.startswith("deploy: ")


def test_speed_gate_is_quantization_own_gain_not_the_runtime_switch() -> None:
    # INT8 no faster than FP32 ONNX Runtime of the same network, yet 4x over bilinear FP32 eager:
    # the runtime switch alone must not pass a min_speedup of 1.5
    result = _result(int8_ms=50.0)
    assert model_row(result, SWP_INT8)["speedup"] == pytest.approx(4.0)
    decision = decide(result, tolerable_iou_loss=0.02, min_speedup=1.5, **SWAPPED)
    assert not decision.deploy and not decision.checks["speed"].passed
    assert f"{SWP_INT8} 1.00x over {SWP_FP32}" in decision.checks["speed"].detail


def test_extra_set_floor_is_optional_and_blocks_below_it() -> None:
    result = _result()
    result["extra_data"] = {"uri": "real", "split": "all", "samples": 4}
    for row in result["models"]:
        row["extra"] = {"iou": 0.5, "dice": 0.6, "boundary_f": 0.3}
    assert decide(result, 0.02, 2.0, **SWAPPED).deploy and "extra" not in decide(result, 0.02, 2.0, **SWAPPED).checks
    blocked = decide(result, 0.02, 2.0, min_extra_iou=0.55, **SWAPPED)
    assert not blocked.deploy and not blocked.checks["extra"].passed
    assert "IoU 0.5000 on real, floor 0.5500" in blocked.checks["extra"].detail
    assert decide(result, 0.02, 2.0, min_extra_iou=0.45, **SWAPPED).deploy
    with pytest.raises(UserError, match="no second evaluation set"):
        decide(_result(), 0.02, 2.0, min_extra_iou=0.5, **SWAPPED)
    selection = _selection(result, min_extra_iou=0.55)
    assert selection.winner == ""
    text = summary.markdown_report(result, selection, None, {})
    assert "## Second evaluation set: real (4 images)" in text and f"| {SWP_INT8} | 0.5000 | 0.8000 |" in text
    assert summary.scalar_metrics(result, selection, None)["iou_extra_swapped_int8_onnxruntime"] == 0.5


def _fp32_above_seed() -> dict:
    """The swapped network in FP32 (0.83) above the seed (0.82); its INT8 at 0.805 loses 0.025 to quantization."""
    result = _result(int8_iou=0.805)
    model_row(result, SWP_FP32)["iou"] = 0.83
    return result


@pytest.mark.parametrize(("result", "kwargs", "failed"), [
    (_fp32_above_seed(), {}, "accuracy"),                # quantization loss 0.025 > 0.02; 0.015 below the seed
    (_result(), {"tolerable_iou_loss": 0.015}, "seed"),  # quantization loss 0.01, but 0.02 below the seed
    (_result(), {"min_iou": 0.85}, "floor"),              # 0.80 < 0.85
    (_result(), {"min_speedup": 2.6}, "speed"),           # INT8 2.5x over FP32 ONNX < 2.6x
    (_result(), {"production": production(0.80)}, "production"),  # equal is not better
])
def test_gate_each_check_can_block(result: dict, kwargs: dict, failed: str) -> None:
    args = {"tolerable_iou_loss": 0.02, "min_speedup": 2.0, **kwargs}
    decision = decide(result, **args, **SWAPPED)
    assert not decision.deploy
    assert [k for k, c in decision.checks.items() if not c.passed] == [failed]
    assert f"{failed} FAILED" in decision.summary


def test_every_candidate_is_held_to_the_seed_besides_its_own_fp32() -> None:
    # a damaged swap: its INT8 is faithful to its own FP32 (loss 0.005) but 0.10 below the seed, and fastest
    result = eval_result(bil_int8=(0.815, 40.0), swp_int8=(0.72, 10.0))
    model_row(result, SWP_FP32)["iou"] = 0.725
    selection = _selection(result)
    swapped = selection.verdict("swapped:onnxruntime")
    assert swapped.decision.checks["accuracy"].passed and not swapped.decision.checks["seed"].passed
    assert swapped.decision.checks["seed"].detail == (f"{SWP_INT8} IoU 0.7200 vs seed bilinear 0.8200: loss 0.1000, "
                                                      "tolerance 0.0200")
    assert selection.winner == "bilinear:onnxruntime"
    assert "swapped:onnxruntime failed seed (swapped-int8-onnxruntime IoU 0.7200 vs seed bilinear" in selection.why
    seed_iou = model_row(result, "bilinear")["iou"]
    assert model_row(result, BIL_INT8)["iou"] >= seed_iou - 0.02  # nothing worse than the seed by more is deployed


def test_better_than_production_is_a_paired_bootstrap_not_a_coin_flip() -> None:
    result = _result()  # the candidate's per-image IoU: 0.77, 0.81, 0.83, 0.79
    noisy = decide(result, 0.02, 2.0, production(0.79, [0.80, 0.78, 0.84, 0.74]), **SWAPPED)  # +0.01 on average
    assert not noisy.deploy and not noisy.checks["production"].passed
    detail = noisy.checks["production"].detail
    assert detail.startswith(f"{SWP_INT8} IoU 0.8000 vs production 0.7900: gain +0.0100, 95% paired bootstrap "
                             "interval [-")
    assert detail.endswith("over 4 images (2000 resamples, seed 0); deploys when its lower bound > 0")
    steady = decide(result, 0.02, 2.0, production(0.79), **SWAPPED)  # +0.01 on every image
    assert steady.deploy and "interval [+0.0100, +0.0100]" in steady.checks["production"].detail
    assert decide(result, 0.02, 2.0, production(0.79), **SWAPPED) == steady  # seeded: the same every time
    with pytest.raises(UserError, match="scored on other images"):
        decide(result, 0.02, 2.0, {**production(0.79), "ids": ["a", "b", "c", "d"]}, **SWAPPED)


def test_chain_steps_multiply_to_the_measured_speedup() -> None:
    result = _result()
    swapped = _selection(result).verdict("swapped:onnxruntime")
    c = summary.chain(result, swapped)
    assert c["export"] == pytest.approx(2.0) and c["swap_decoder"] == pytest.approx(2.0)
    assert c["quantize"] == pytest.approx(2.5)
    assert c["export"] * c["swap_decoder"] * c["quantize"] == pytest.approx(c["measured"]) == pytest.approx(10.0)
    bilinear = summary.chain(result, _selection(result).verdict("bilinear:onnxruntime"))  # no swap step
    assert bilinear == pytest.approx({"export": 2.0, "quantize": 2.5, "measured": 5.0})


def test_metrics_and_markdown_report() -> None:
    result = _result()
    selection = _selection(result, production=production(0.7))
    metrics = summary.scalar_metrics(result, selection, 0.7)
    assert metrics["iou_swapped_fp32_onnx"] == 0.81 and metrics["speedup_swapped_int8_onnxruntime"] == \
        pytest.approx(10.0)
    assert metrics["iou_production"] == 0.7 and metrics["deploy"] == 1.0 and metrics["candidates_passed"] == 2.0
    assert metrics["speedup_chain_measured"] == pytest.approx(10.0)  # the winner's chain
    assert all(isinstance(v, float) for v in metrics.values())
    text = summary.markdown_report(result, selection, {"ref": "models:/p:3", "iou": 0.7}, {"min_speedup": 2.0})
    assert "**Gate: deploy swapped:onnxruntime**" in text
    assert "| swap decoder | swapped FP32 (ONNX Runtime) | 0.8100 | 50.0 | 2.00x | 4.00x |" in text
    assert "| quantize | swapped INT8 (onnxruntime) | 0.8000 | 20.0 | 2.50x | 10.00x |" in text
    assert "decoder swap x quantization: **5.00x**" in text and "models:/p:3: IoU 0.7000" in text
    assert '"min_speedup": 2.0' in text


def test_pipeline_report_names_what_agreement_compares_and_the_peak_spread() -> None:
    result = _result()
    result["cpu"]["peak"] = {"fp32_gflops": 190.0, "int8_gops": 900.0, "fp32_gflops_trials": [150.0, 190.0],
                             "int8_gops_trials": [450.0, 900.0]}
    text = summary.markdown_report(result, _selection(result), None, {})
    assert "| agreement IoU vs FP32 of same network |" in text and "row above" not in text
    assert f"| 0.9850 vs {SWP_FP32} |" in text and "| 0.9990 vs bilinear |" in text and "| 1.0000 (itself) |" in text
    assert ("FP32 190 GFLOP/s, INT8 900 GOP/s (best of 2 trials after a warm-up; trials FP32 150-190, "
            "INT8 450-900).") in text
    result["models"][4].update(agreement_iou=None, agreement_with=None)  # no FP32 of its network evaluated
    del result["models"][2]["agreement_with"]  # a report written before agreement_with: it was vs the row above
    text = summary.markdown_report(result, _selection(result), None, {})
    assert "| 1.0000 (vs row above) |" in text and f"| {SWP_INT8} | onnx int8 | 0.8000 | 0.8000 | 0.5000 | - |" in text


def test_overlay_difference_and_png() -> None:
    img = np.full((4, 4, 3), 100, np.uint8)
    a = np.zeros((4, 4), bool)
    b = np.zeros((4, 4), bool)
    a[0, 0] = b[1, 1] = True
    diff = gallery.difference(img, a, b)
    assert tuple(diff[0, 0]) == gallery.ONLY_A and tuple(diff[1, 1]) == gallery.ONLY_B
    assert tuple(diff[2, 2]) == (50, 50, 50)
    tinted = gallery.overlay(img, a)
    assert tinted[0, 0, 1] > 100 and tuple(tinted[3, 3]) == (100, 100, 100)
    uri = gallery.png_data_uri(diff)
    back = np.asarray(Image.open(io.BytesIO(base64.b64decode(uri.split(",", 1)[1]))))
    assert np.array_equal(back, diff)


def test_curve_svg() -> None:
    svg = gallery.curve_svg([{"epoch": 1, "loss": 0.9, "val_iou": 0.2}, {"epoch": 2, "loss": 0.5, "val_iou": 0.6}])
    assert svg.count("<polyline") == 2 and "last 0.600" in svg
    assert "No training history" in gallery.curve_svg([])


def test_ingest_synthetic_and_local_copy(tmp_path: Path) -> None:
    syn = materialize("synthetic:3", tmp_path / "syn", 32)
    assert len(list((syn / "images").iterdir())) == 3
    copy = materialize(str(syn), tmp_path / "copy", 32)
    assert sorted(p.name for p in (copy / "masks").iterdir()) == sorted(p.name for p in (syn / "masks").iterdir())
    with pytest.raises(UserError, match="synthetic:N"):
        materialize("synthetic:x", tmp_path / "bad", 32)
    with pytest.raises(UserError, match="no such directory"):
        materialize(str(tmp_path / "missing"), tmp_path / "bad", 32)
    assert not (tmp_path / "bad").exists()


def test_use_endpoint(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MINIO_ENDPOINT", "http://keep:9000")
    use_endpoint("  ")
    assert os.environ["MINIO_ENDPOINT"] == "http://keep:9000"
    use_endpoint("http://minio.kubeflow:9000")
    assert os.environ["MINIO_ENDPOINT"] == "http://minio.kubeflow:9000"
    with pytest.raises(UserError, match="s3_endpoint"):
        use_endpoint("ftp://x:1")


def test_library_never_imports_kfp() -> None:
    import subprocess
    import sys

    code = ("import sys, pkgutil, importlib, personseg.steps as p\n"
            "for m in pkgutil.iter_modules(p.__path__):\n"
            "    importlib.import_module(f'personseg.steps.{m.name}')\n"
            "import personseg.commands.pipeline\n"
            "print(sorted(m for m in sys.modules if m == 'kfp' or m.startswith('kfp.')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_card_records_which_candidate_won(tmp_path: Path) -> None:
    import json

    from personseg.steps.deploy import card_from_evaluation
    from personseg.steps.evaluate import gate_summary

    result = _result()
    selection = _selection(result)
    report = tmp_path / "evaluation.json"
    report.write_text(json.dumps({**result, "winner": selection.winner, "gate": gate_summary(selection),
                                  "candidates": [v.to_dict() for v in selection.verdicts]}))
    card = card_from_evaluation(report, "swapped:onnxruntime")
    assert card["candidate"] == {"name": "swapped:onnxruntime", "network": "swapped", "runtime": "onnxruntime"}
    assert card["gate"]["deploy"] is True and card["gate"]["checks"]["speed"]["passed"] is True
    assert card["evaluation"]["iou"] == 0.80 and card["evaluation"]["speedup"] == pytest.approx(10.0)
    assert card["evaluation"]["images_per_s"] == pytest.approx(400.0)
    assert card["selection"].startswith("swapped:onnxruntime: fastest of the 2 that passed")
    # only the candidate the gate picked: another one (even one that passed), or none, is refused
    with pytest.raises(UserError, match="its winner is 'swapped:onnxruntime', not 'bilinear:onnxruntime'"):
        card_from_evaluation(report, "bilinear:onnxruntime")
    with pytest.raises(UserError, match="not ''"):
        card_from_evaluation(report, "")
    report.write_text(json.dumps(result))
    with pytest.raises(UserError, match="has no 'gate' and 'candidates'"):
        card_from_evaluation(report, "swapped:onnxruntime")
