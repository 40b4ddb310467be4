"""Agreement IoU is measured against the FP32 model of the same network, wherever it sits in the list."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from personseg.evaluate.agreement import onnx_fp32_of, references
from personseg.modeldir import ModelInfo

BILINEAR = {"name": "unet", "decoder": "bilinear", "width": 8}
LEAN = {"name": "unet-swapped", "design": "lean", "squeeze": 2, "width": 8}


def _info(path: str, kind: str, precision: str, arch: dict, source: dict | None = None) -> ModelInfo:
    return ModelInfo(Path(path), kind, precision, "w", 64, arch, {"source": source} if source else {})


def test_int8_prefers_fp32_onnx_then_torch_then_none() -> None:
    infos = [_info("/q", "onnx", "int8", BILINEAR, {"uri": "/t", "arch": BILINEAR}),
             _info("/l", "torch", "fp32", LEAN, {"uri": "/t", "arch": BILINEAR}),  # swap records its seed
             _info("/o", "onnx", "fp32", BILINEAR, {"uri": "/t"}),
             _info("/t", "torch", "fp32", BILINEAR)]
    uris = ["/q", "/l", "/o", "/t"]
    assert references(infos, uris) == [2, 1, 3, 3]  # INT8 vs ONNX FP32; ONNX FP32 vs PyTorch; PyTorch itself
    assert references([infos[0], infos[3]], ["/q", "/t"]) == [1, 1]  # no FP32 ONNX: the PyTorch FP32
    assert references([infos[0], infos[1]], ["/q", "/l"]) == [None, 1]  # a swapped model is another network
    assert references([infos[2]], ["/o"]) == [0]  # FP32 ONNX alone: itself


def test_speed_reference_is_the_fp32_onnx_of_the_same_network_not_the_first_listed() -> None:
    # bilinear's FP32 ONNX comes first; the swapped INT8 must be timed against the swapped FP32 ONNX
    infos = [_info("/t", "torch", "fp32", BILINEAR), _info("/bo", "onnx", "fp32", BILINEAR),
             _info("/lo", "onnx", "fp32", LEAN), _info("/bq", "onnx", "int8", BILINEAR),
             _info("/lq", "onnx", "int8", LEAN), _info("/x", "onnx", "int8", {"name": "unet", "width": 4})]
    assert onnx_fp32_of(infos, ["/t", "/bo", "/lo", "/bq", "/lq", "/x"]) == [1, 1, 2, 1, 2, None]


def test_among_several_fp32_models_of_one_arch_the_recorded_source_wins() -> None:
    infos = [_info("/a", "torch", "fp32", LEAN), _info("/b", "torch", "fp32", LEAN),
             _info("/q", "onnx", "int8", LEAN, {"uri": "/b", "arch": LEAN})]
    assert references(infos, ["/a", "/b", "/q"])[2] == 1


def test_evaluate_compares_each_model_with_fp32_of_its_network(tiny_model, tiny_onnx_fp32, tiny_int8, tiny_dataset,
                                                                 tmp_path):
    from personseg.cli import main
    from personseg.evaluate.step import EvalConfig, run, scored_images
    from personseg.quality import agreement_iou
    from personseg.runtime import load_predictor, predict_masks

    lean = tmp_path / "lean"
    assert main(["swap", "--model", str(tiny_model), "--data", str(tiny_dataset), "--design", "lean",
                 "--epochs", "0", "--out", str(lean)]) == 0
    # an order in which "the row above" is never the same network's FP32 model
    models = {"int8": tiny_int8, "onnx-fp32": tiny_onnx_fp32, "lean": lean, "torch-fp32": tiny_model}
    report = tmp_path / "eval.json"
    result = run(EvalConfig(models=tuple(f"{k}={v}" for k, v in models.items()), data=str(tiny_dataset), rounds=1,
                            warmup=0, measure_peak=False), report)
    rows = {m["name"]: m for m in result["models"]}
    assert {n: m["agreement_with"] for n, m in rows.items()} == {
        "int8": "onnx-fp32", "onnx-fp32": "torch-fp32", "lean": "lean", "torch-fp32": "torch-fp32"}
    held = scored_images(str(tiny_dataset), 64, "test")
    x = held.images.transpose(0, 3, 1, 2).astype(np.float32) / 255
    masks = {n: predict_masks(load_predictor(Path(v)).logits, x) for n, v in models.items()}
    assert rows["int8"]["agreement_iou"] == agreement_iou(masks["int8"], masks["onnx-fp32"], held.labels)
    assert rows["onnx-fp32"]["agreement_iou"] == agreement_iou(masks["onnx-fp32"], masks["torch-fp32"], held.labels)
    assert rows["lean"]["agreement_iou"] == rows["torch-fp32"]["agreement_iou"] == 1.0
    above = agreement_iou(masks["lean"], masks["onnx-fp32"], held.labels)  # what "vs row above" would say
    assert above < 0.999  # so the order really tells the two figures apart
    table = report.with_suffix(".md").read_text()
    assert "agreement IoU vs FP32 of same network" in table and "row above" not in table
    assert f"| {rows['int8']['agreement_iou']:.4f} vs onnx-fp32 |" in table and "| 1.0000 (itself) |" in table

    alone = run(EvalConfig(models=(f"int8={tiny_int8}", f"lean={lean}"), data=str(tiny_dataset), rounds=1,
                           warmup=0, measure_peak=False), tmp_path / "alone.json")
    assert alone["models"][0]["agreement_iou"] is None and alone["models"][0]["agreement_with"] is None
    assert "| int8 (baseline) | onnx int8 |" in (tmp_path / "alone.md").read_text()
    assert "| - | " in (tmp_path / "alone.md").read_text()
