"""INT8 with Intel Neural Compressor's ONNX flavour on ONNX Runtime: static QDQ, accuracy-aware tuning.

Settings measured fastest at equal IoU on AVX2 without VNNI: u8 activations (asymmetric), s8 weights
(symmetric) and per-channel scales, MinMax calibration; ``reduce_range`` (7-bit weights) only where the
CPU lacks VNNI (``reduce_range_for``); INC's autotune falls back
to per-tensor weights if per-channel misses the tolerance. ConvTranspose is not in INC's op list and
stays FP32 (``rewrite.py`` turns the lean design's into Conv + DepthToSpace); DepthToSpace is added to
INC's list (``EXTRA_OP_TYPES``) so the upsampler and the Concat after it run on uint8.

The convolution that reads the image (``input_convs``) stays FP32 unless asked otherwise: its input (8-bit
pixels) quantizes almost exactly, so what INT8 changes there is its 7-bit weights, and keeping that one
convolution in FP32 removed most of INT8's disagreement with FP32. Measured on three 192 px width-32
models: agreement with FP32 on the 4 real photographs rose from 0.94-0.97 to 0.98-0.996 and the IoU loss
there from up to 1.9 points to under 0.4, for 1-3 % more latency.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnx

from personseg.cpuquota import default_threads
from personseg.quantize.calibration import CalibrationReader
from personseg.quantize.inc_workarounds import autotune_or_raise, extra_op_types, honour_reduce_range, inc_threads
from personseg.quantize.input_convs import input_convs

# Direct 8-bit ops INC quantizes but leaves out of its CPU op list (inc_workarounds, work-around 5).
EXTRA_OP_TYPES = ("DepthToSpace",)
# A fault hook: given the INT8 model and the op types kept in FP32, returns a (broken) model.
Fault = Callable[[onnx.ModelProto, frozenset[str]], onnx.ModelProto]
# The tests' seam, read in one place (``quantize_onnx``): tests set it (monkeypatch) to break the INT8
# model the way a wrong kernel would, so the agreement gate has something to catch. Production never
# sets it, and no public signature carries it.
FAULT_HOOK: Fault | None = None


@dataclass(frozen=True)
class OnnxQuantSettings:
    """What the tuner may choose between, and how much IoU it may lose (INC's relative form, and absolute)."""

    tolerable_loss: float = 0.005
    tolerable_iou_loss: float | None = None
    max_trials: int = 4
    reduce_range: bool | None = None  # None: by this CPU (reduce_range_for)
    batch_size: int = 8
    fp32_input_convs: bool = True  # keep the convolutions that read the image in FP32 (module docstring)


VNNI_FLAGS = ("avx512_vnni", "avx_vnni", "amx_int8")


def reduce_range_for(flags: frozenset[str]) -> bool:
    """7-bit weights where the CPU lacks VNNI, 8-bit where it has it.

    Without VNNI, x86 multiplies u8 activations by s8 weights with ``vpmaddubsw``, whose 16-bit sums of
    two products saturate with full 8-bit weights; ONNX Runtime's ``reduce_range`` avoids that at the
    cost of a bit of precision. VNNI (``vpdpbusd``) accumulates in 32 bits, so nothing saturates and
    the eighth bit is free accuracy. The INT8 model should run on CPUs of the kind it was quantized on.
    """
    return not any(flag in flags for flag in VNNI_FLAGS)


def quantizable_op_types(exclude: set[str]) -> list[str]:
    """INC's static QDQ op list for the CPU provider plus ``EXTRA_OP_TYPES``, minus ``exclude``."""
    from onnx_neural_compressor import constants

    ops = list(dict.fromkeys([*constants.STATIC_QDQ_CPU_OP_LIST, *EXTRA_OP_TYPES]))
    return [op for op in ops if op not in exclude]


def quantize_onnx(
    fp32_path: Path,
    out_path: Path,
    calib: np.ndarray,
    eval_fn: Callable[[str], float],
    settings: OnnxQuantSettings,
    exclude_op_types: set[str],
) -> dict:
    """Tune and write the INT8 model at ``out_path``; return the configuration actually used."""
    from onnx_neural_compressor.quantization import config as inc_config
    from onnx_neural_compressor.quantization import tuning
    from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType

    from personseg.cpuinfo import cpu_info

    flags = cpu_info().flags
    reduce_range = reduce_range_for(flags) if settings.reduce_range is None else settings.reduce_range
    chosen_by = ("the CPU (" + (", ".join(f for f in VNNI_FLAGS if f in flags) or "no VNNI") + ")"
                 if settings.reduce_range is None else "the settings")
    reader = CalibrationReader(calib, settings.batch_size)
    op_types = quantizable_op_types(exclude_op_types)
    kept_fp32 = input_convs(onnx.load(str(fp32_path), load_external_data=False)) if settings.fp32_input_convs else []
    with extra_op_types(EXTRA_OP_TYPES), honour_reduce_range(reduce_range), inc_threads(default_threads()):
        config_set = inc_config.StaticQuantConfig(
            calibration_data_reader=reader, calibrate_method=CalibrationMethod.MinMax, quant_format=QuantFormat.QDQ,
            activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8, op_types_to_quantize=op_types,
            nodes_to_exclude=kept_fp32, per_channel=[True, False], reduce_range=reduce_range,
            calibration_sampling_size=max(1, -(-len(calib) // settings.batch_size)),
            extra_options={"WeightSymmetric": True, "ActivationSymmetric": False},
        )
        tune = tuning.TuningConfig(config_set=config_set, tolerable_loss=settings.tolerable_loss,
                                   max_trials=settings.max_trials)
        model = autotune_or_raise(model_input=str(fp32_path), tune_config=tune, eval_fn=eval_fn,
                                  calibration_data_reader=reader, absolute_loss=settings.tolerable_iou_loss)
    if FAULT_HOOK is not None:
        model = FAULT_HOOK(model, frozenset(exclude_op_types))
    onnx.save_model(model, str(out_path))
    return {
        "backend": "onnxruntime", "library": "onnx-neural-compressor", "format": "QDQ",
        "activations": "uint8 asymmetric", "weights": "int8 symmetric",
        "per_channel": is_per_channel(model), "reduce_range": reduce_range, "reduce_range_chosen_by": chosen_by,
        "calibrate_method": "MinMax", "op_types_to_quantize": op_types, "excluded_op_types": sorted(exclude_op_types),
        "fp32_input_convs": settings.fp32_input_convs, "excluded_nodes": kept_fp32,
        "tolerable_loss_relative": settings.tolerable_loss, "tolerable_iou_loss": settings.tolerable_iou_loss,
    }


def is_per_channel(model: onnx.ModelProto) -> bool:
    """Whether any weight DequantizeLinear carries one scale per output channel."""
    inits = {i.name: i for i in model.graph.initializer}
    for node in model.graph.node:
        if node.op_type == "DequantizeLinear" and len(node.input) > 1 and node.input[1] in inits:
            if len(inits[node.input[1]].dims) == 1 and inits[node.input[1]].dims[0] > 1:
                return True
    return False


def quantized_op_types(model: onnx.ModelProto) -> list[str]:
    """Op types with at least one node fed by a DequantizeLinear (running in INT8 under ORT's fusions)."""
    dq_outputs = {o for n in model.graph.node if n.op_type == "DequantizeLinear" for o in n.output}
    types = {n.op_type for n in model.graph.node
             if n.op_type not in ("QuantizeLinear", "DequantizeLinear") and any(i in dq_outputs for i in n.input)}
    return sorted(types)
