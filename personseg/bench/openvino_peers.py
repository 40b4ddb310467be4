"""OpenVINO stacks: the FP32 ONNX export read by OpenVINO, and NNCF's post-training INT8 of it.

The compile helper is private here until ``personseg.runtime_openvino`` lands: threads pinned, one
stream, latency hint, and ``INFERENCE_PRECISION_HINT`` f32 so OpenVINO does not silently run "FP32"
in bf16/f16 on CPUs that have them (INT8 layers stay INT8; the rest runs in f32).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from personseg.bench.runner import Logits, full_batches


def compile_pinned(model: Any, threads: int) -> Any:
    """``openvino.Core().compile_model`` on CPU with threads and f32 inference precision pinned."""
    import openvino as ov

    config = {"INFERENCE_NUM_THREADS": threads, "INFERENCE_PRECISION_HINT": "f32", "NUM_STREAMS": 1,
              "PERFORMANCE_HINT": "LATENCY"}
    return ov.Core().compile_model(model, "CPU", config)


def _runner(compiled: Any) -> Logits:
    request = compiled.create_infer_request()
    return lambda x: request.infer({0: np.ascontiguousarray(x, dtype=np.float32)})[0].copy()


def openvino_fp32(onnx_path: str | Path, threads: int) -> Logits:
    """The FP32 ONNX export compiled by OpenVINO, f32 precision."""
    import openvino as ov

    return _runner(compile_pinned(ov.Core().read_model(str(onnx_path)), threads))


def nncf_int8(onnx_path: str | Path, calibration: np.ndarray, threads: int, batch_size: int = 8) -> Logits:
    """``nncf.quantize`` (default preset, all calibration images) of the FP32 export, compiled pinned."""
    import nncf
    import openvino as ov

    model = ov.Core().read_model(str(onnx_path))
    batches = full_batches(calibration, batch_size)
    quantized = nncf.quantize(model, nncf.Dataset(batches), subset_size=len(batches))
    return _runner(compile_pinned(quantized, threads))
