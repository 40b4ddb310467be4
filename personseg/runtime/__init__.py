"""Run a saved model on numpy batches, whatever its kind: one interface for evaluation and serving.

``load_predictor`` runs a model with the runtime its card names (``runtime``: ``onnxruntime``,
``openvino`` or ``torch``, by default the one of its ``kind``), or the one the caller asks for, so one
ONNX model can be run by either ONNX Runtime or OpenVINO. Only the chosen runtime is imported: serving
an ONNX or OpenVINO model imports no torch, and the OpenVINO path no onnxruntime.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Protocol

import numpy as np

from personseg.errors import UserError
from personseg.modeldir import RUNTIMES, ModelInfo, check_runtime, read_model_dir


class Predictor(Protocol):
    """Maps a (N, 3, S, S) float32 batch in [0, 1] to (N, 1, S, S) float32 logits."""

    info: ModelInfo
    threads: int
    runtime: str

    def logits(self, batch: np.ndarray) -> np.ndarray:
        """Per-pixel logits for ``batch``."""
        ...


def predict_masks(logits: Callable[[np.ndarray], np.ndarray], images: np.ndarray, batch_size: int = 8) -> np.ndarray:
    """Boolean (N, S, S) person masks of ``images`` (logit > 0), run ``batch_size`` at a time."""
    out = [logits(images[i : i + batch_size]) > 0 for i in range(0, len(images), batch_size)]
    return np.concatenate(out)[:, 0]


def load_predictor(path: str | Path, threads: int | None = None, runtime: str | None = None) -> Predictor:
    """Load the saved model at ``path`` with ``runtime``, else the runtime its ``config.json`` names."""
    info = read_model_dir(path)
    runtime = runtime or info.runtime
    if runtime not in RUNTIMES:
        raise UserError(f"runtime {runtime!r}: expected one of {', '.join(RUNTIMES)}")
    check_runtime(info.kind, runtime, f"model {info.path}: runtime")
    if runtime == "openvino":
        from personseg.runtime.openvino import OpenVINOPredictor

        return OpenVINOPredictor(info, threads)
    if runtime == "onnxruntime":
        from personseg.runtime.onnx import OnnxPredictor

        return OnnxPredictor(info, threads)
    from personseg.runtime.torch import TorchPredictor

    return TorchPredictor(info, threads)
