"""INC's QDQ ONNX made into what OpenVINO's CPU plugin fuses: one scale where bytes only move, float logits.

OpenVINO turns each QuantizeLinear/DequantizeLinear pair into a FakeQuantize and runs an op on 8-bit data
without requantizing only when its inputs and its output carry the same quantization, and it keeps an
8-bit tensor 8-bit through DepthToSpace and Concat only when its zero point is 0. INC calibrates every
tensor on its own, which ONNX Runtime does not mind (``QLinearConcat`` requantizes inside its kernel) but
OpenVINO does: at each decoder Concat of the lean U-Net the upsampled input (zero point ~170) is
converted to f32 after its DepthToSpace and requantized twice, in f32 (measured: 8 FakeQuantize and 4
Converts, about 10 % of a batch, ``openvino_graph.profile``). ``align_scales`` gives the quantized
tensors that only such an op reads (Concat, DepthToSpace, MaxPool) the op's output scale, widened to
cover all of their ranges, as int8 around zero when the range is signed, as NNCF does. A tensor other
ops read too (the encoder's skip tensor, which also feeds MaxPool) keeps its own finer scale: widening
it to the Concat's range, as NNCF's unified scales do, coarsened the encoder and agreement with FP32
fell from 0.996 to 0.76 on a w32 lean4 network, so OpenVINO still requantizes that input once, in 8 bits.

The logits are quantized too (INC quantizes every Conv's output), so OpenVINO writes them as u8 and then
converts and subtracts the zero point in f32 (4 % of a batch). ``float_outputs`` drops that last
QuantizeLinear/DequantizeLinear pair: the last convolution still runs INT8 and writes f32 logits, which are
also closer to FP32's.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import onnx
from onnx import numpy_helper

# Ops whose 8-bit form in OpenVINO needs the same scale and zero point on every input and the output.
SHARED_SCALE_OPS = frozenset({"Concat", "DepthToSpace", "SpaceToDepth", "MaxPool"})


@dataclass(frozen=True)
class Rewrites:
    """What ``for_openvino`` changed: quantized tensors given a shared scale, groups of them, logits left float."""

    aligned_tensors: int
    aligned_groups: int
    float_outputs: int

    def to_dict(self) -> dict[str, int]:
        """The card's ``openvino_qdq`` field."""
        return {"aligned_tensors": self.aligned_tensors, "aligned_groups": self.aligned_groups,
                "float_outputs": self.float_outputs}


class _Groups:
    """Union-find over QuantizeLinear node names."""

    def __init__(self) -> None:
        self.parent: dict[str, str] = {}

    def find(self, x: str) -> str:
        self.parent.setdefault(x, x)
        while self.parent[x] != x:
            self.parent[x] = self.parent[self.parent[x]]
            x = self.parent[x]
        return x

    def union(self, a: str, b: str) -> None:
        self.parent[self.find(a)] = self.find(b)


def _scalar(inits: dict[str, onnx.TensorProto], name: str) -> np.ndarray | None:
    """A per-tensor (scalar) initializer's value, or None (per-channel or computed)."""
    if name not in inits:
        return None
    value = numpy_helper.to_array(inits[name])
    return value if value.size == 1 else None


def _shared_range(params: list[tuple[float, int, np.dtype]]) -> tuple[np.float32, np.ndarray]:
    """One (scale, zero point) whose grid covers the real range of every ``(scale, zero point, type)``.

    All non-negative (ReLU outputs): uint8 from 0. Otherwise int8 symmetric around 0 (zero point 0), as
    NNCF quantizes such a group: OpenVINO runs 8-bit ops on a zero point of 0 without converting.
    """
    lo = min(0.0, *((np.iinfo(t).min - z) * s for s, z, t in params))
    hi = max(0.0, *((np.iinfo(t).max - z) * s for s, z, t in params))
    if lo >= 0:
        return np.float32(hi / 255), np.array(0, np.uint8)
    return np.float32(max(-lo / 128, hi / 127)), np.array(0, np.int8)


def _join_groups(graph: onnx.GraphProto) -> _Groups:
    """QuantizeLinear nodes that should share parameters: each shared-scale op's outputs and the inputs only it reads.

    An input quantized for other readers too (the skip tensor that also feeds MaxPool) keeps its own scale.
    """
    producer = {o: n for n in graph.node for o in n.output}
    readers: dict[str, list[onnx.NodeProto]] = {}
    for n in graph.node:
        for i in n.input:
            readers.setdefault(i, []).append(n)
    groups = _Groups()
    for node in graph.node:
        if node.op_type not in SHARED_SCALE_OPS:
            continue
        outs = [c for c in readers.get(node.output[0], []) if c.op_type == "QuantizeLinear"]
        if not outs:
            continue
        for q in outs:
            groups.union(outs[0].name, q.name)
        for data in node.input[:None if node.op_type == "Concat" else 1]:
            dq = producer.get(data)
            q = producer.get(dq.input[0]) if dq is not None and dq.op_type == "DequantizeLinear" else None
            if q is None or q.op_type != "QuantizeLinear":
                continue
            dqs = readers.get(q.output[0], [])
            if all(d.op_type == "DequantizeLinear" and all(r is node for r in readers.get(d.output[0], []))
                   for d in dqs):
                groups.union(outs[0].name, q.name)
    return groups


def align_scales(model: onnx.ModelProto) -> tuple[int, int]:
    """Give the quantized tensors around each ``SHARED_SCALE_OPS`` op one scale; returns (tensors, groups) changed."""
    graph = model.graph
    groups = _join_groups(graph)
    readers: dict[str, list[onnx.NodeProto]] = {}
    for n in graph.node:
        for i in n.input:
            readers.setdefault(i, []).append(n)
    inits = {i.name: i for i in graph.initializer}
    members: dict[str, list[onnx.NodeProto]] = {}
    for q in (n for n in graph.node if n.op_type == "QuantizeLinear" and n.name in groups.parent):
        members.setdefault(groups.find(q.name), []).append(q)
    tensors = changed = 0
    for root, qs in members.items():
        values = [(_scalar(inits, q.input[1]), _scalar(inits, q.input[2]) if len(q.input) > 2 else None) for q in qs]
        if any(s is None or z is None for s, z in values):
            continue  # per-channel or computed parameters: left as they are
        params = [(float(s), int(z), z.dtype) for s, z in values]
        scale, zero = _shared_range(params)
        if all(p == (float(scale), int(zero), zero.dtype) for p in params):
            continue
        scale_name, zero_name = f"{root}_shared_scale", f"{root}_shared_zero_point"
        graph.initializer.extend([numpy_helper.from_array(np.array(scale, np.float32), scale_name),
                                  numpy_helper.from_array(zero, zero_name)])
        for q in qs:
            for node in [q, *(c for c in readers.get(q.output[0], []) if c.op_type == "DequantizeLinear")]:
                node.input[1], node.input[2] = scale_name, zero_name
        tensors += len(qs)
        changed += 1
    return tensors, changed


def float_outputs(model: onnx.ModelProto) -> int:
    """Drop the QuantizeLinear -> DequantizeLinear pair that ends at a graph output; returns how many."""
    graph = model.graph
    producer = {o: n for n in graph.node for o in n.output}
    readers: dict[str, int] = {}
    for n in graph.node:
        for i in n.input:
            readers[i] = readers.get(i, 0) + 1
    dropped = []
    for out in graph.output:
        dq = producer.get(out.name)
        q = producer.get(dq.input[0]) if dq is not None and dq.op_type == "DequantizeLinear" else None
        if q is None or q.op_type != "QuantizeLinear" or readers.get(q.output[0]) != 1:
            continue
        source = producer.get(q.input[0])
        if source is None or readers.get(q.input[0]) != 1:
            continue
        source.output[list(source.output).index(q.input[0])] = out.name
        dropped += [q, dq]
    for node in dropped:
        graph.node.remove(node)
    return len(dropped) // 2


def for_openvino(model: onnx.ModelProto) -> tuple[onnx.ModelProto, Rewrites]:
    """A copy of INC's QDQ ``model`` rewritten for OpenVINO (module docstring), and what was changed."""
    model = onnx.ModelProto.FromString(model.SerializeToString())
    tensors, groups = align_scales(model)
    outputs = float_outputs(model)
    return model, Rewrites(tensors, groups, outputs)
