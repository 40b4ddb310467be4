"""Fault hooks for ``personseg.quantize.step.run``: INT8 models broken the way a wrong kernel breaks them."""

from __future__ import annotations

import numpy as np
import onnx
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
