"""What ONNX Runtime executes for the INT8 bilinear model's ``Resize`` (docs/results.md states it; this pins it).

INC puts ``DequantizeLinear -> Resize -> QuantizeLinear`` around each bilinear upsample, which suggests
an INT8 Resize. The optimized graph ORT writes (``SessionOptions.optimized_model_filepath``) is what it
runs: the Convs fuse into ``QLinearConv``, but each Resize keeps its DequantizeLinear input and
QuantizeLinear output, so it runs in float (onnxruntime 1.32). If a runtime upgrade fuses it, this test
fails and the sentence on Resize in docs/results.md must change with it.
"""

from __future__ import annotations

import onnx
import onnxruntime as ort


def _neighbours(model: onnx.ModelProto, op_type: str) -> list[tuple[str, list[str]]]:
    """For each ``op_type`` node: the op producing its data input, and the ops consuming its output."""
    producers = {o: n.op_type for n in model.graph.node for o in n.output}
    out = []
    for node in model.graph.node:
        if node.op_type == op_type:
            consumers = [n.op_type for n in model.graph.node if node.output[0] in n.input]
            out.append((producers.get(node.input[0], "graph input"), consumers))
    return out


def test_ort_runs_the_int8_bilinear_resize_in_float_between_dequantize_and_quantize(tiny_int8, tmp_path):
    source = onnx.load(str(tiny_int8 / "model.onnx"))
    assert _neighbours(source, "Resize") == [("DequantizeLinear", ["QuantizeLinear"])] * 4  # INC quantized it

    opts = ort.SessionOptions()
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    opts.optimized_model_filepath = str(tmp_path / "optimized.onnx")
    ort.InferenceSession(str(tiny_int8 / "model.onnx"), opts, providers=["CPUExecutionProvider"])
    optimized = onnx.load(str(tmp_path / "optimized.onnx"))
    ops = [n.op_type for n in optimized.graph.node]
    # the convolutions do run INT8 (all but the one reading the image, kept FP32 on purpose: onnx_backend) ...
    assert ops.count("QLinearConv") == 18 and ops[0] == "Conv"
    assert _neighbours(optimized, "Resize") == [("DequantizeLinear", ["QuantizeLinear"])] * 4  # ... Resize in float
