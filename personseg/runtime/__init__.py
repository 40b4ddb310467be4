"""Run a saved model on numpy batches, whatever its kind: one interface for evaluation and serving.

``load_predictor`` runs a model with the runtime its card names (``runtime``: ``onnxruntime``,
``openvino`` or ``torch``, by default the one of its ``kind``), or the one the caller asks for, so one
ONNX model can be run by either ONNX Runtime or OpenVINO. Only the chosen runtime is imported: serving
an ONNX or OpenVINO model imports no torch, and the OpenVINO path no onnxruntime.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from personseg.cpuquota import cpu_quota
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


def default_threads() -> int:
    """Threads for every step (torch and ONNX Runtime): ``PERSONSEG_THREADS``, else the CPU quota."""
    env = os.environ.get("PERSONSEG_THREADS")
    if env:
        try:
            return max(1, int(env))
        except ValueError:
            raise UserError(f"PERSONSEG_THREADS={env!r}: expected a whole number") from None
    return cpu_quota()


def onnx_session(model: str | Path | bytes, threads: int, inspect_dir: str | Path | None = None) -> Any:
    """An ONNX Runtime CPU session with threads pinned, no spinning, sequential, all optimisations.

    ``inspect_dir``: ONNX Runtime writes the graph it runs (after its fusions) there as ``optimized.onnx``
    and profiles every run (``profile_*.json``, each kernel with its input types), for inspection.
    """
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    opts.inter_op_num_threads = 1
    opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    # Idle worker threads must not spin: on a small CPU quota they would steal the cores that
    # pre/post-processing (serving) or the next model in an interleaved benchmark needs.
    opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
    if inspect_dir is not None:
        opts.optimized_model_filepath = str(Path(inspect_dir) / "optimized.onnx")
        opts.enable_profiling = True
        opts.profile_file_prefix = str(Path(inspect_dir) / "profile")
    source = model if isinstance(model, bytes) else str(model)
    return ort.InferenceSession(source, opts, providers=["CPUExecutionProvider"])


def predict_masks(logits: Callable[[np.ndarray], np.ndarray], images: np.ndarray, batch_size: int = 8) -> np.ndarray:
    """Boolean (N, S, S) person masks of ``images`` (logit > 0), run ``batch_size`` at a time."""
    out = [logits(images[i : i + batch_size]) > 0 for i in range(0, len(images), batch_size)]
    return np.concatenate(out)[:, 0]


class OnnxPredictor:
    """ONNX Runtime session with threads pinned, no spinning, sequential execution, all optimisations."""

    runtime = "onnxruntime"

    def __init__(self, info: ModelInfo, threads: int | None = None) -> None:
        self.info = info
        self.threads = threads or default_threads()
        try:
            self.session = onnx_session(info.weights_path, self.threads)
        except Exception as exc:  # onnxruntime raises its own untyped errors for bad files
            raise UserError(f"model {info.weights_path}: ONNX Runtime cannot load it ({exc})") from None
        self.input_name = self.session.get_inputs()[0].name

    def logits(self, batch: np.ndarray) -> np.ndarray:
        """Run the session on one batch."""
        return self.session.run(None, {self.input_name: np.ascontiguousarray(batch, dtype=np.float32)})[0]


class TorchPredictor:
    """PyTorch eager inference under ``inference_mode`` with the thread count pinned."""

    runtime = "torch"

    def __init__(self, info: ModelInfo, threads: int | None = None) -> None:
        import torch

        from personseg.models.checkpoint import load_model

        self.info = info
        self.threads = threads or default_threads()
        torch.set_num_threads(self.threads)
        self.model = load_model(info.path).eval()

    def logits(self, batch: np.ndarray) -> np.ndarray:
        """Run the module on one batch."""
        import torch

        with torch.inference_mode():
            return self.model(torch.from_numpy(np.ascontiguousarray(batch, dtype=np.float32))).numpy()


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
        return OnnxPredictor(info, threads)
    return TorchPredictor(info, threads)
