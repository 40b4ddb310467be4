"""Graph rewrites that let INT8 reach the swapped decoder's transposed convolutions.

INC's ONNX op list has no ConvTranspose, so a swapped model keeps its upsamplers in FP32 and pays a
dequantize/quantize round trip at each. A transposed convolution whose kernel equals its stride (the
``lean`` design) is exactly a 1x1 convolution to ``s*s*M`` channels followed by ``DepthToSpace``
(sub-pixel convolution): ``Y[m, s*i+a, s*j+b] = sum_c X[c, i, j] * W[c, m, a, b]``. Conv is quantized
like every other convolution and DepthToSpace only moves bytes.
"""

from __future__ import annotations

import numpy as np
import onnx
from onnx import helper, numpy_helper


def _attrs(node: onnx.NodeProto) -> dict:
    return {a.name: helper.get_attribute_value(a) for a in node.attribute}


def _is_subpixel(node: onnx.NodeProto, inits: dict[str, onnx.TensorProto]) -> bool:
    if node.op_type != "ConvTranspose" or len(node.input) < 2 or node.input[1] not in inits:
        return False
    a = _attrs(node)
    kernel, strides = list(a.get("kernel_shape", [])), list(a.get("strides", [1, 1]))
    return (len(kernel) == 2 and kernel == strides and kernel[0] == kernel[1]
            and not any(a.get("pads", [0, 0, 0, 0])) and a.get("group", 1) == 1
            and list(a.get("dilations", [1, 1])) == [1, 1] and not any(a.get("output_padding", [0, 0]))
            and "output_shape" not in a and a.get("auto_pad", b"NOTSET") in (b"NOTSET", "NOTSET"))


def convtranspose_to_subpixel(model: onnx.ModelProto) -> tuple[onnx.ModelProto, int]:
    """Rewrite every kernel==stride ConvTranspose as Conv 1x1 + DepthToSpace; returns (model, count)."""
    graph = model.graph
    inits = {i.name: i for i in graph.initializer}
    nodes, count = [], 0
    for node in graph.node:
        if not _is_subpixel(node, inits):
            nodes.append(node)
            continue
        w = numpy_helper.to_array(inits[node.input[1]])  # (C, M, s, s)
        c, m, s, _ = w.shape
        # DepthToSpace (DCR) reads channel (a*s + b)*M + m for output offset (a, b) and channel m
        w1 = np.ascontiguousarray(w.transpose(2, 3, 1, 0).reshape(s * s * m, c, 1, 1))
        name = node.name or f"convtranspose_{count}"
        graph.initializer.append(numpy_helper.from_array(w1.astype(w.dtype), f"{name}_subpixel_w"))
        conv_inputs = [node.input[0], f"{name}_subpixel_w"]
        if len(node.input) > 2 and node.input[2]:
            bias = numpy_helper.to_array(inits[node.input[2]])
            graph.initializer.append(numpy_helper.from_array(np.tile(bias, s * s), f"{name}_subpixel_b"))
            conv_inputs.append(f"{name}_subpixel_b")
        mid = f"{name}_subpixel_out"
        nodes.append(helper.make_node("Conv", conv_inputs, [mid], name=f"{name}_subpixel_conv", kernel_shape=[1, 1]))
        nodes.append(helper.make_node("DepthToSpace", [mid], list(node.output), name=f"{name}_subpixel_d2s",
                                      blocksize=s, mode="DCR"))
        count += 1
    del graph.node[:]
    graph.node.extend(nodes)
    used = {i for n in graph.node for i in n.input}
    keep = [i for i in graph.initializer if i.name in used]
    del graph.initializer[:]
    graph.initializer.extend(keep)
    return model, count
