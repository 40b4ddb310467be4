"""How to quantize: the one set of quantize defaults, shared by ``personseg quantize`` and the pipeline.

Light on purpose (no onnx or torch at import): the CLI reads its flags' defaults from here. The defaults
are the pipeline's: 32 calibration images, and INT8 may lose 0.02 IoU points against FP32 on the tuning
images, the tolerance the pipeline's deploy gate applies too (the speed table of docs/results.md was tuned to it).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class QuantizeConfig:
    """How to quantize and what the result must satisfy."""

    model: str
    data: str
    backend: str = "onnxruntime"
    runtime: str = "onnxruntime"
    calibration: int = 32
    tolerable_iou_loss: float = 0.02
    min_agreement: float = 0.95
    max_fallbacks: int = 3
    max_trials: int = 4
    fp32_input_convs: bool = True  # INC tunes the image's convolution in FP32 (onnx_backend, input_convs)
    reduce_range: bool | None = None  # 7-bit weights; None: where this CPU lacks VNNI (onnx_backend)
