"""ONNX Runtime: a CPU session tuned for small batches, and the predictor that runs an ONNX saved model."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from personseg.cpuquota import default_threads
from personseg.errors import UserError
from personseg.modeldir import ModelInfo


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
