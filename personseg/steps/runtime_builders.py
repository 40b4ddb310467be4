"""Runtimes a candidate can be deployed on, keyed by name: each turns a network's INT8 ONNX into its model.

Adding a runtime is one entry in ``BUILDERS``: a function ``(source, out_dir) -> metrics`` that writes a
saved model (``personseg.modeldir``) at ``out_dir`` from the network's INT8 ONNX saved model, its FP32
ONNX (the agreement reference) and the calibration and tuning images the INT8 model was made with.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # the pipeline definition imports this module to validate names: keep it light
    import numpy as np


@dataclass(frozen=True)
class RuntimeSource:
    """What a runtime builder may read: one network's INT8 and FP32 ONNX, and the images behind them."""

    int8_onnx_dir: Path
    fp32_onnx_path: Path
    calib_inputs: np.ndarray
    tune_inputs: np.ndarray
    tune_labels: np.ndarray
    min_agreement: float


RuntimeBuilder = Callable[[RuntimeSource, Path], dict[str, Any]]


def onnxruntime_model(source: RuntimeSource, out_dir: Path) -> dict[str, Any]:
    """ONNX Runtime runs the INT8 ONNX saved model as it is: a copy."""
    shutil.copytree(source.int8_onnx_dir, out_dir)
    return {}


def openvino_model(source: RuntimeSource, out_dir: Path) -> dict[str, Any]:
    """OpenVINO IR of the network: INC's QDQ ONNX read by OpenVINO, or NNCF where that is measured faster."""
    from personseg.quantize.openvino_model import build_openvino_model

    return build_openvino_model(source.int8_onnx_dir, source.fp32_onnx_path, source.calib_inputs,
                                source.tune_inputs, source.tune_labels, out_dir, source.min_agreement)


BUILDERS: dict[str, RuntimeBuilder] = {
    "onnxruntime": onnxruntime_model,
    "openvino": openvino_model,
}
