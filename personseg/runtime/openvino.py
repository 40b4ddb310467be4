"""Run a saved model with OpenVINO on the CPU: an OpenVINO IR (``kind: openvino``) or an ONNX file.

Compiled with the thread count pinned, one stream and the LATENCY hint, like the ONNX Runtime session
(``personseg.runtime.onnx.onnx_session``), and with the inference precision pinned to f32: on CPUs with
AVX-512 BF16 or AMX, OpenVINO's default is bf16, which would silently change what an "FP32" row
measures. INT8 layers stay INT8 because their quantization is in the graph (FakeQuantize), not a hint.
No torch or onnxruntime import here, so the serving image needs neither.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import numpy as np

from personseg.cpuquota import default_threads
from personseg.errors import UserError
from personseg.modeldir import ModelInfo

DEVICE = "CPU"


def cpu_config(threads: int) -> dict[str, Any]:
    """The compile properties every OpenVINO model here gets (serving, quantization, benchmarks)."""
    return {
        "INFERENCE_NUM_THREADS": int(threads),
        "NUM_STREAMS": 1,
        "PERFORMANCE_HINT": "LATENCY",
        "INFERENCE_PRECISION_HINT": "f32",
    }


def read_openvino_model(model: str | Path | bytes) -> Any:
    """An ``openvino.Model`` from an .xml (with its .bin beside it) or .onnx path, or ONNX bytes."""
    import openvino as ov

    source = io.BytesIO(model) if isinstance(model, bytes) else str(model)
    what = "ONNX bytes" if isinstance(model, bytes) else str(model)
    try:
        return ov.Core().read_model(source)
    except RuntimeError as exc:  # OpenVINO reports every unreadable file as a RuntimeError
        first = str(exc).strip().splitlines()
        detail = next((line for line in reversed(first) if line.strip()), "unreadable")
        raise UserError(f"model {what}: OpenVINO cannot read it ({detail.strip()})") from None


def compile_openvino(model: str | Path | bytes | Any, threads: int, image_size: int | None = None,
                     profile: bool = False) -> Any:
    """Compile ``model`` (path, ONNX bytes or ``openvino.Model``) for the CPU with ``cpu_config``.

    With ``image_size``, the input is reshaped to a dynamic batch of ``3 x image_size x image_size``
    (static height and width let the CPU plugin pick its kernels once). ``profile`` turns on the
    performance counters (``PERF_COUNT``: each primitive's kernel and time), for diagnosis, not serving.
    """
    import openvino as ov

    ov_model = model if isinstance(model, ov.Model) else read_openvino_model(model)
    if image_size is not None:
        ov_model.reshape({ov_model.input(0): ov.PartialShape([-1, 3, image_size, image_size])})
    config = {**cpu_config(threads), "PERF_COUNT": True} if profile else cpu_config(threads)
    try:
        return ov.Core().compile_model(ov_model, DEVICE, config)
    except RuntimeError as exc:
        where = "model" if isinstance(model, (bytes, ov.Model)) else f"model {model}"
        raise UserError(f"{where}: OpenVINO cannot compile it for the CPU ({str(exc).strip()[-300:]})") from None


class OpenVINOPredictor:
    """An OpenVINO compiled model and one infer request, same interface as ``OnnxPredictor``.

    One request, reused: ``logits`` is called from one thread at a time (serving's inference thread,
    evaluation's loop), and each result is copied out before the next call overwrites it.
    """

    runtime = "openvino"

    def __init__(self, info: ModelInfo, threads: int | None = None) -> None:
        self.info = info
        self.threads = threads or default_threads()
        self.compiled = compile_openvino(info.weights_path, self.threads, info.image_size)
        self.request = self.compiled.create_infer_request()

    def logits(self, batch: np.ndarray) -> np.ndarray:
        """Run the compiled model on one batch."""
        self.request.infer({0: np.ascontiguousarray(batch, dtype=np.float32)})
        return self.request.get_output_tensor(0).data.copy()
