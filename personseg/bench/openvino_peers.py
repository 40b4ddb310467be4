"""OpenVINO stacks: the FP32 ONNX export read by OpenVINO, and NNCF's post-training INT8 of it.

Both compile through ``personseg.runtime.openvino.compile_openvino`` (threads pinned, one stream, the
LATENCY hint, inference precision f32 so "FP32" never silently runs in bf16), the same compile that
serving and ``personseg quantize --runtime openvino`` use.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from personseg.bench.runner import Logits, full_batches
from personseg.runtime.openvino import compile_openvino, read_openvino_model


def _runner(compiled: Any) -> Logits:
    request = compiled.create_infer_request()

    def run(x: np.ndarray) -> np.ndarray:
        request.infer({0: np.ascontiguousarray(x, dtype=np.float32)})
        return request.get_output_tensor(0).data.copy()

    return run


def openvino_fp32(onnx_path: str | Path, threads: int, image_size: int) -> Logits:
    """The FP32 ONNX export compiled by OpenVINO, f32 precision."""
    return openvino_model(onnx_path, threads, image_size)


def openvino_model(path: str | Path, threads: int, image_size: int) -> Logits:
    """Any ONNX or IR model compiled as serving compiles it (our INT8 IR, for one)."""
    return _runner(compile_openvino(path, threads, image_size))


def nncf_int8(onnx_path: str | Path, calibration: np.ndarray, threads: int, image_size: int,
              batch_size: int = 8) -> Logits:
    """``nncf.quantize`` (default preset, every calibration image) of the FP32 export, compiled pinned."""
    import nncf

    batches = full_batches(calibration, batch_size)
    quantized = nncf.quantize(read_openvino_model(onnx_path), nncf.Dataset(batches), subset_size=len(batches))
    return _runner(compile_openvino(quantized, threads, image_size))
