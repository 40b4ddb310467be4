"""data synthetic -> train -> swap -> evaluate on tiny models, through the CLI, plus resume."""

import json

import numpy as np
import torch

from personseg.cli import main
from personseg.models.checkpoint import load_model
from personseg.swap.step import swap_weights


def test_trained_model_segments_and_records_its_provenance(tiny_model, tiny_dataset, tmp_path):
    metrics = json.loads((tiny_model / "metrics.json").read_text())
    assert metrics["val_iou"] > 0.4  # chance (all person) is ~0.2 on this data
    cfg = json.loads((tiny_model / "config.json").read_text())
    assert cfg["arch"] == {"name": "unet", "decoder": "bilinear", "width": 8}
    assert cfg["data"]["sha256"] and cfg["train"]["epochs"] == 8


def test_training_is_reproducible_from_its_seed(tiny_dataset, tmp_path):
    runs = []
    for name in ("a", "b"):
        assert main(["train", "--data", str(tiny_dataset), "--width", "4", "--size", "64", "--epochs", "1",
                     "--threads", "2", "--out", str(tmp_path / name)]) == 0
        runs.append(load_model(tmp_path / name).state_dict())
    assert all(torch.equal(runs[0][k], runs[1][k]) for k in runs[0])


def test_resume_continues_from_saved_state(tiny_dataset, tmp_path):
    first = tmp_path / "first"
    assert main(["train", "--data", str(tiny_dataset), "--width", "8", "--size", "64", "--epochs", "1",
                 "--out", str(first)]) == 0
    assert main(["train", "--data", str(tiny_dataset), "--width", "8", "--size", "64", "--epochs", "2",
                 "--resume", str(tmp_path / "first.ckpt"), "--out", str(tmp_path / "second")]) == 0
    history = json.loads((tmp_path / "second" / "metrics.json").read_text())["history"]
    assert [row["epoch"] for row in history] == [1, 2]


def test_exact_swap_preserves_function_in_the_interior(tiny_model):
    seed = load_model(tiny_model)
    swapped = swap_weights(seed, "exact", 1).eval()
    x = torch.rand(2, 3, 64, 64)
    with torch.no_grad():
        a, b = seed(x), swapped(x)
    agree = ((a > 0) == (b > 0)).float().mean().item()
    assert agree > 0.97  # only border effects of the upsampling differ


def test_swap_and_evaluate_side_by_side(tiny_model, tiny_dataset, tmp_path, capsys):
    lean = tmp_path / "lean"
    assert main(["swap", "--model", str(tiny_model), "--data", str(tiny_dataset), "--design", "lean",
                 "--epochs", "1", "--out", str(lean)]) == 0
    swap_metrics = json.loads((lean / "metrics.json").read_text())
    assert swap_metrics["val_iou_swapped"] >= swap_metrics["val_iou_swapped_initial"]
    assert swap_metrics["val_iou_swapped"] > 0.3
    report = tmp_path / "eval.json"
    assert main(["evaluate", "--model", f"bilinear={tiny_model}", "--model", f"lean={lean}", "--data",
                 str(tiny_dataset), "--rounds", "2", "--report", str(report)]) == 0
    out = json.loads(report.read_text())
    assert out["baseline"] == "bilinear" and out["batch_size"] == 8 and out["image_size"] == 64
    names = [m["name"] for m in out["models"]]
    assert names == ["bilinear", "lean"]
    for m in out["models"]:
        assert 0 <= m["iou"] <= 1 and m["latency_ms"]["median"] > 0 and m["images_per_s"] > 0
        assert set(m) >= {"name", "uri", "iou", "dice", "boundary_f", "latency_ms", "images_per_s", "speedup"}
    assert out["models"][0]["speedup"] == 1.0
    assert out["cpu"]["peak"]["fp32_gflops"] > 1 and out["cpu"]["peak"]["int8_gops"] > 1
    assert all(0 < m["fraction_of_peak"] < 2 for m in out["models"])
    assert 0.01 < out["models"][0]["gflops"] < 0.1  # width 8 at 64px
    assert np.isclose(out["models"][1]["speedup"], out["models"][0]["latency_ms"]["median"]
                      / out["models"][1]["latency_ms"]["median"])
    assert "| bilinear (baseline)" in report.with_suffix(".md").read_text()
    assert "| lean |" in capsys.readouterr().out


def test_swap_rejects_a_model_of_the_wrong_kind(tiny_model, tiny_dataset, tmp_path, capsys):
    lean = tmp_path / "lean0"
    assert main(["swap", "--model", str(tiny_model), "--data", str(tiny_dataset), "--epochs", "0",
                 "--out", str(lean)]) == 0
    assert main(["swap", "--model", str(lean), "--data", str(tiny_dataset), "--out", str(tmp_path / "x")]) == 2
    assert "the swap takes a PyTorch 'unet' with the bilinear decoder" in capsys.readouterr().err
