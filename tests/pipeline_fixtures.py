"""Shared pieces of the pipeline tests: the checkout's root and the tiny run parameters."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

TINY_PARAMS = {"dataset_uri": "synthetic:16", "image_size": 64, "width": 8, "epochs": 1, "swap_epochs": 1,
               "calibration_size": 8, "eval_rounds": 2, "model_name": "tiny-seg",
               "min_iou": 0.0,  # one epoch on 16 images learns little; the floor is tested on its own
               # ONNX Runtime only, to keep the local runs short; tests/test_quantize_candidates.py builds OpenVINO's
               "candidates": "bilinear:onnxruntime,swapped:onnxruntime"}

# A hand-written evaluation result (personseg.evaluate.step contract) of the default candidates: the seed in
# PyTorch, each network's FP32 ONNX, each network's INT8 on ONNX Runtime. Timings are fixed (batch 8).
SEED, BIL_FP32, SWP_FP32 = "bilinear", "bilinear-fp32-onnx", "swapped-fp32-onnx"
BIL_INT8, SWP_INT8 = "bilinear-int8-onnxruntime", "swapped-int8-onnxruntime"
IDS = ["t0", "t1", "t2", "t3"]


def spread(iou: float) -> list[float]:
    """Four per-image IoUs whose mean is ``iou`` (the images differ, as real ones do)."""
    return [iou - 0.03, iou + 0.01, iou + 0.03, iou - 0.01]


def production(iou: float, per_image: list[float] | None = None) -> dict:
    """The production model as ``score_production`` returns it, scored on the fixture's four test images."""
    return {"ref": "models:/p:3", "iou": iou, "per_image_iou": per_image or spread(iou), "ids": IDS}


def eval_row(name: str, iou: float, ms: float, agreement: tuple[str, float], base_ms: float = 200.0) -> dict:
    """One model's row: ``ms`` median per batch of 8, so images/s is 8000 / ms."""
    return {"name": name, "uri": f"/m/{name}", "kind": "torch" if name == SEED else "onnx",
            "precision": "int8" if "int8" in name else "fp32", "iou": iou, "dice": iou, "boundary_f": 0.5,
            "per_image_iou": spread(iou),
            "agreement_iou": agreement[1], "agreement_with": agreement[0],
            "latency_ms": {"median": ms, "p90": ms * 1.1}, "images_per_s": 8000 / ms,
            "speedup": base_ms / ms, "gflops": 1.0, "achieved_gops": 8.0}


def eval_result(bil_int8: tuple[float, float] = (0.815, 40.0), swp_int8: tuple[float, float] = (0.80, 20.0)) -> dict:
    """(IoU, median ms) of each INT8 candidate; bilinear FP32 ONNX 100 ms, swapped FP32 ONNX 50 ms."""
    rows = [eval_row(SEED, 0.82, 200.0, (SEED, 1.0)), eval_row(BIL_FP32, 0.82, 100.0, (SEED, 0.999)),
            eval_row(SWP_FP32, 0.81, 50.0, (SWP_FP32, 1.0)),
            eval_row(BIL_INT8, *bil_int8, (BIL_FP32, 0.99)), eval_row(SWP_INT8, *swp_int8, (SWP_FP32, 0.985))]
    return {"batch_size": 8, "image_size": 64, "threads": 2, "cpu": {"model": "cpu", "flags": ["avx2"]},
            "baseline": SEED, "data": {"uri": "d", "split": "test", "samples": 4, "ids": IDS}, "rounds": 3,
            "config": {}, "models": rows}


def candidates_index(failed: dict[str, str] | None = None) -> dict:
    """The quantize step's index of the default candidates; ``failed`` maps a network to its quantize error."""
    failed = failed or {}
    networks = {n: {"fp32_onnx": f"{n}-fp32-onnx", "settings": {}, **({"status": "failed", "reason": failed[n]}
                                                                     if n in failed else {"status": "ok"})}
                for n in ("bilinear", "swapped")}
    cands = [{"name": f"{n}:onnxruntime", "network": n, "runtime": "onnxruntime", "path": f"{n}-int8-onnxruntime",
              "fp32_onnx": f"{n}-fp32-onnx", **({"status": "failed", "reason": failed[n]} if n in failed
                                                else {"status": "ok"})}
             for n in ("bilinear", "swapped")]
    return {"config": {}, "networks": networks, "candidates": cands}


def check_data_args(**overrides: object) -> dict:
    """Every pipeline parameter at its default (no S3 endpoint), then ``overrides``: what check_data is given."""
    from personseg_kfp.params import pipeline_inputs
    from personseg_kfp.pipeline import person_segmentation

    args = {name: default for name, (_, default) in pipeline_inputs(person_segmentation).items()}
    return {**args, "s3_endpoint": "", "report": None, **overrides}
