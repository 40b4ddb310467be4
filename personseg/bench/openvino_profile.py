"""Where an OpenVINO model's time goes, as tables, and what OpenVINO's own INT8 convolutions reach on this CPU.

``openvino_graph.profile`` reads the performance counters; here they become the per-node-type table and the
list of float kernels and reorders a regression would show up in. ``conv_peak`` is the ceiling to hold
a network's GOP/s against on a CPU where OpenVINO's kernels are not ONNX Runtime's (MLAS, the peers
table's peak): one INT8 3x3 convolution, QDQ-quantized as the models are, compiled as they are.
"""

from __future__ import annotations

import time

import numpy as np

from personseg.quantize.openvino_graph import Profile, profile
from personseg.runtime.openvino import compile_openvino


def type_table(profile: Profile) -> str:
    """Markdown: per node type, slowest first, its count, ms per batch, share of the batch and kernels."""
    lines = ["| node type | count | ms | share | kernels (exec type: count) |", "|---|---|---|---|---|"]
    for node_type, row in profile.by_type().items():
        kernels = ", ".join(f"{e}: {n}" for e, n in sorted(row["exec_types"].items()))
        lines.append(f"| {node_type} | {row['count']} | {row['ms']:.2f} | "
                     f"{row['ms'] / profile.total_ms * 100:.1f} % | {kernels} |")
    lines.append(f"| **total** | {len(profile.kernels)} | {profile.total_ms:.2f} | 100 % | |")
    return "\n".join(lines)


def slow_spots(profile: Profile) -> str:
    """The float kernels and the reorders/conversions/requantizations, each with its time (a regression's trail)."""
    lines = [f"float kernels: {profile.share(profile.float_kernels()) * 100:.1f} % of the batch; reorders, "
             f"conversions and requantizations: {profile.share(profile.overheads()) * 100:.1f} %"]
    for kernel in sorted(profile.float_kernels() + profile.overheads(), key=lambda k: -k.ms):
        lines.append(f"  {kernel.ms:8.2f} ms  {kernel.node_type:14s} {kernel.exec_type:26s} {kernel.name}")
    return "\n".join(lines)


def _qdq_conv(channels: int, size: int, batch: int) -> bytes:
    """An ONNX 3x3 convolution, ``channels`` in and out, with u8 activations and per-channel s8 weights in QDQ."""
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(0)
    weight = rng.integers(-127, 127, (channels, channels, 3, 3), dtype=np.int8)
    inits = [numpy_helper.from_array(weight, "w_q"),
             numpy_helper.from_array(np.full(channels, 0.01, np.float32), "w_scale"),
             numpy_helper.from_array(np.zeros(channels, np.int8), "w_zero"),
             numpy_helper.from_array(np.array(1 / 255, np.float32), "x_scale"),
             numpy_helper.from_array(np.array(0, np.uint8), "x_zero"),
             numpy_helper.from_array(np.array(0.05, np.float32), "y_scale"),
             numpy_helper.from_array(np.array(0, np.uint8), "y_zero")]
    nodes = [helper.make_node("QuantizeLinear", ["x", "x_scale", "x_zero"], ["xq"]),
             helper.make_node("DequantizeLinear", ["xq", "x_scale", "x_zero"], ["xd"]),
             helper.make_node("DequantizeLinear", ["w_q", "w_scale", "w_zero"], ["wd"], axis=0),
             helper.make_node("Conv", ["xd", "wd"], ["c"], pads=[1, 1, 1, 1]),
             helper.make_node("Relu", ["c"], ["r"]),
             helper.make_node("QuantizeLinear", ["r", "y_scale", "y_zero"], ["yq"]),
             helper.make_node("DequantizeLinear", ["yq", "y_scale", "y_zero"], ["y"])]
    shape = [batch, channels, size, size]
    graph = helper.make_graph(nodes, "conv", [helper.make_tensor_value_info("x", TensorProto.FLOAT, shape)],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, shape)], inits)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]).SerializeToString()


def conv_peak(threads: int, channels: int = 256, size: int = 64, batch: int = 8, seconds: float = 2.0) -> float:
    """GOP/s (2 per multiply-add) of OpenVINO's INT8 3x3 convolution kernel alone, best of repeated profiles.

    Timed from the performance counters, so quantizing the f32 probe input and reordering its output do not
    count. The default shape (256 channels at 64x64) lets the kernel run near the CPU's INT8 rate; with
    ``channels=32, size=256`` it is a full-resolution layer of a width-32 U-Net, the most it can expect there.
    """
    compiled = compile_openvino(_qdq_conv(channels, size, batch), threads, profile=True)
    x = np.random.default_rng(1).random((batch, channels, size, size), dtype=np.float32)
    best, deadline = float("inf"), time.perf_counter() + seconds
    while time.perf_counter() < deadline or best == float("inf"):
        best = min(best, sum(k.ms for k in profile(compiled, x, runs=1).kernels if k.node_type == "Convolution"))
    return 2 * channels * channels * 9 * size * size * batch / (best / 1000) / 1e9
