"""INC's QDQ model rewritten for OpenVINO: nothing but the image's convolution executes on float, and masks hold."""

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from personseg.quantize.openvino_qdq import align_scales, float_outputs, for_openvino

pytest.importorskip("openvino")


@pytest.fixture(scope="module")
def lean_qdq(tiny_model, tiny_dataset, tmp_path_factory):
    """INC's INT8 QDQ ONNX of the lean (DepthToSpace) swap of the tiny model, as the quantize step writes it."""
    from personseg.quantize.step import QuantizeConfig, run
    from personseg.swap.step import SwapConfig
    from personseg.swap.step import run as swap

    root = tmp_path_factory.mktemp("lean-qdq")
    swap(SwapConfig(model=str(tiny_model), data=str(tiny_dataset), design="lean", squeeze=4, epochs=0), root / "lean4")
    run(QuantizeConfig(model=str(root / "lean4"), data=str(tiny_dataset), calibration=32, max_trials=1), root / "int8")
    return root / "int8"


def _float_work(model: onnx.ModelProto) -> list[tuple[str, str]]:
    """(layer type, name) of what OpenVINO runs on float, from its runtime model, leaving out Reorders."""
    from personseg.quantize.openvino_graph import openvino_executed_nodes
    from personseg.runtime.openvino import compile_openvino

    nodes = openvino_executed_nodes(compile_openvino(model.SerializeToString(), 1, 64))
    return [(n.layer_type, n.name) for n in nodes if n.runs_on_float and n.layer_type != "Reorder"]


def test_openvino_runs_only_the_image_convolution_on_float(lean_qdq):
    import json

    inc = onnx.load(str(lean_qdq / "model.onnx"))
    kept = json.loads((lean_qdq / "config.json").read_text())["quantization"]["excluded_nodes"]
    rewritten, rewrites = for_openvino(inc)
    assert rewrites.aligned_groups >= 4 and rewrites.float_outputs == 1
    on_float = _float_work(rewritten)
    assert [t for t, _ in on_float] == ["Convolution"] and on_float[0][1].startswith(kept[0]), on_float
    # INC's model as it is: requantizations and the logits' zero point on float around the same convolutions
    before = {t for t, _ in _float_work(inc)}
    assert {"FakeQuantize", "Eltwise"} <= before, before


def test_no_requantization_or_conversion_is_executed_but_the_skip_connections(lean_qdq):
    from personseg.quantize.openvino_graph import profile
    from personseg.runtime.openvino import compile_openvino

    rewritten, _ = for_openvino(onnx.load(str(lean_qdq / "model.onnx")))
    batch = np.random.default_rng(0).random((2, 3, 64, 64), dtype=np.float32)
    prof = profile(compile_openvino(rewritten.SerializeToString(), 1, 64, profile=True), batch, runs=1)
    kinds = sorted({(k.node_type, k.precision) for k in prof.overheads() if k.node_type != "Reorder"})
    # one 8-bit requantization per decoder Concat: the encoder's skip tensor, kept on its own finer scale
    assert kinds == [("FakeQuantize", "i8")], kinds
    assert len([k for k in prof.overheads() if k.node_type == "FakeQuantize"]) == 4
    assert [k.node_type for k in prof.float_kernels()] == ["Convolution"]


def test_the_rewrite_keeps_the_masks(lean_qdq, tiny_dataset):
    import onnxruntime as ort

    from personseg.data.loading import load_dataset
    from personseg.quantize.calibration import as_inputs

    x = as_inputs(load_dataset(tiny_dataset, 64))[:16]
    inc = onnx.load(str(lean_qdq / "model.onnx"))

    def logits(model: onnx.ModelProto) -> np.ndarray:
        session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
        return session.run(None, {session.get_inputs()[0].name: x})[0]

    before, after = logits(inc), logits(for_openvino(inc)[0])
    assert ((before > 0) == (after > 0)).mean() > 0.99
    assert np.abs(after - before).max() < 0.5 * np.abs(before).max()


def _q(name, x, scale, zero):
    return helper.make_node("QuantizeLinear", [x, scale, zero], [f"{name}_q"], name=name)


def _dq(name, x, scale, zero):
    return helper.make_node("DequantizeLinear", [x, scale, zero], [f"{name}_dq"], name=name)


def _params(name, scale, zero, dtype=np.uint8):
    return [numpy_helper.from_array(np.array(scale, np.float32), f"{name}_s"),
            numpy_helper.from_array(np.array(zero, dtype), f"{name}_z")]


def _concat_graph() -> onnx.ModelProto:
    """skip (ReLU range, also read by MaxPool) and up (signed) into a Concat, then its quantized output."""
    nodes = [_q("qs", "skip", "s_s", "s_z"), _dq("dqs", "qs_q", "s_s", "s_z"),
             helper.make_node("MaxPool", ["dqs_dq"], ["pool"], kernel_shape=[2, 2], strides=[2, 2]),
             _q("qu", "up", "u_s", "u_z"), _dq("dqu", "qu_q", "u_s", "u_z"),
             helper.make_node("Concat", ["dqs_dq", "dqu_dq"], ["cat"], axis=1, name="cat"),
             _q("qc", "cat", "c_s", "c_z"), _dq("dqc", "qc_q", "c_s", "c_z"),
             helper.make_node("Relu", ["dqc_dq"], ["conv"]), _q("qo", "conv", "o_s", "o_z"),
             _dq("dqo", "qo_q", "o_s", "o_z")]
    nodes[-1].output[0] = "logits"
    inits = _params("s", 0.01, 0) + _params("u", 0.02, 130) + _params("c", 0.03, 100) + _params("o", 0.1, 128)
    info = [helper.make_tensor_value_info(n, TensorProto.FLOAT, [1, 2, 4, 4]) for n in ("skip", "up")]
    outputs = [helper.make_tensor_value_info("logits", TensorProto.FLOAT, [1, 4, 4, 4]),
               helper.make_tensor_value_info("pool", TensorProto.FLOAT, [1, 2, 2, 2])]
    graph = helper.make_graph(nodes, "g", info, outputs, inits)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


def _param_of(model, node_name):
    inits = {i.name: numpy_helper.to_array(i) for i in model.graph.initializer}
    node = next(n for n in model.graph.node if n.name == node_name)
    return float(inits[node.input[1]]), inits[node.input[2]]


def test_a_concat_input_read_only_by_it_takes_the_outputs_scale_and_a_shared_one_keeps_its_own():
    model = _concat_graph()
    assert align_scales(model) == (2, 1)
    scale, zero = _param_of(model, "qu")
    assert (scale, zero.dtype, int(zero)) == (_param_of(model, "qc")[0], np.int8, 0)  # signed range: int8, zero 0
    assert _param_of(model, "dqu") == (scale, zero) and _param_of(model, "dqc")[0] == scale
    # the union of the ranges: down to -100 * 0.03 = -3.0 (concat; up: -2.6), up to 155 * 0.03 = 4.65
    assert scale == pytest.approx(max(3.0 / 128, 4.65 / 127))
    skip = next(n for n in model.graph.node if n.name == "qs")
    assert list(skip.input[1:]) == ["s_s", "s_z"]  # the skip also feeds MaxPool: its own scale, untouched
    onnx.checker.check_model(model)


def test_float_outputs_drop_the_quantization_of_the_logits_only():
    model = _concat_graph()
    assert float_outputs(model) == 1
    names = {n.name for n in model.graph.node}
    assert "qo" not in names and "dqo" not in names and {"qc", "dqc", "qs"} <= names
    relu = next(n for n in model.graph.node if n.op_type == "Relu")
    assert list(relu.output) == ["logits"]
    onnx.checker.check_model(model)
