"""Fault hooks for quantization: INT8 models broken the way a wrong kernel breaks them.

``inject`` installs one at ``personseg.quantize.onnx_backend.FAULT_HOOK``, the seam ``quantize_onnx``
reads, for the duration of a test (monkeypatch undoes it).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import onnx
import pytest
from onnx import numpy_helper


def break_maxpool(model: onnx.ModelProto, fp32_op_types: frozenset) -> onnx.ModelProto:
    """Fault hook simulating a wrong INT8 MaxPool kernel (as fbgemm's ConvTranspose2d was): while MaxPool
    is quantized, the scale feeding each DequantizeLinear -> MaxPool -> QuantizeLinear is corrupted."""
    if "MaxPool" in fp32_op_types:
        return model
    producers = {o: n for n in model.graph.node for o in n.output}
    consumers = {i: n for n in model.graph.node for i in n.input}
    inits = {i.name: i for i in model.graph.initializer}
    for node in model.graph.node:
        dq, q = producers.get(node.input[0]), consumers.get(node.output[0])
        if node.op_type == "MaxPool" and dq is not None and dq.op_type == "DequantizeLinear" and q is not None \
                and q.op_type == "QuantizeLinear":
            scale = inits[dq.input[1]]
            broken = (numpy_helper.to_array(scale) * np.float32(0.001)).astype(np.float32)
            scale.CopyFrom(numpy_helper.from_array(broken, scale.name))
    return model


def inject(monkeypatch: pytest.MonkeyPatch, fault: Callable[[onnx.ModelProto, frozenset], onnx.ModelProto]) -> None:
    """Make every quantization in this test go through ``fault``."""
    from personseg.quantize import onnx_backend

    monkeypatch.setattr(onnx_backend, "FAULT_HOOK", fault)


def only_bilinear(fault: Callable[[onnx.ModelProto, frozenset], onnx.ModelProto]):
    """``fault`` applied to the bilinear seed only: its graph upsamples with ``Resize``, the swapped one does not."""
    def hook(model: onnx.ModelProto, fp32_op_types: frozenset) -> onnx.ModelProto:
        if any(node.op_type == "Resize" for node in model.graph.node):
            return fault(model, fp32_op_types)
        return model
    return hook
