"""ONNX Runtime stacks: the FP32 export, and ONNX Runtime's own ``quantize_static`` with no tuning.

``quantize_static`` gets what INC gets in ``personseg quantize``: the same FP32 export and the same
calibration images, QDQ format, per-channel weights, U8 activations / S8 weights (ONNX Runtime's
CPU recommendation), ``reduce_range`` off (as our INC configuration), MinMax calibration. Both run on
the session options every personseg model runs with (``personseg.runtime.onnx.onnx_session``).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from personseg.bench.runner import Logits
from personseg.quantize.calibration import CalibrationReader
from personseg.runtime.onnx import onnx_session


def onnx_runner(path: str | Path, threads: int) -> Logits:
    """An ONNX model on our pinned ONNX Runtime session."""
    session = onnx_session(path, threads)
    name = session.get_inputs()[0].name
    return lambda x: session.run(None, {name: np.ascontiguousarray(x, dtype=np.float32)})[0]


def ort_quantize_static(fp32_path: str | Path, out_path: str | Path, calibration: np.ndarray, threads: int,
                        batch_size: int = 8) -> Logits:
    """Quantize ``fp32_path`` with ``onnxruntime.quantization.quantize_static`` into ``out_path``; run it."""
    from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType, quantize_static

    quantize_static(str(fp32_path), str(out_path), CalibrationReader(calibration, batch_size),
                    quant_format=QuantFormat.QDQ, per_channel=True, reduce_range=False,
                    activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8,
                    calibrate_method=CalibrationMethod.MinMax)
    return onnx_runner(out_path, threads)
