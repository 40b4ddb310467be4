"""The swapped decoder runs INT8 end to end, read from what the runtime executes (ONNX Runtime and OpenVINO)."""

import json

import pytest

from personseg.quantize.openvino_graph import OpenVINONode, openvino_executed_nodes, openvino_fp32_nodes
from personseg.quantize.ort_graph import RuntimeNode, executed_nodes, fp32_islands, fp32_nodes

UPSAMPLING_OPS = {"DepthToSpace", "Concat", "Transpose", "Reshape"}
# OpenVINO's layer types for the work between the INT8 convolutions of the lean decoder.
OV_WORK = ("Convolution", "DepthToSpace", "Concatenation")


@pytest.fixture(scope="module")
def lean_int8(tiny_model, tiny_dataset, tmp_path_factory):
    from personseg.quantize.step import QuantizeConfig, run
    from personseg.swap.step import SwapConfig
    from personseg.swap.step import run as swap

    root = tmp_path_factory.mktemp("lean")
    swap(SwapConfig(model=str(tiny_model), data=str(tiny_dataset), design="lean", squeeze=4, epochs=0), root / "lean4")
    run(QuantizeConfig(model=str(root / "lean4"), data=str(tiny_dataset), calibration=32), root / "int8")
    return root / "int8"


def test_upsampling_path_runs_on_int8_tensors(lean_int8):
    nodes = executed_nodes(lean_int8 / "model.onnx")
    upsampling = [n for n in nodes if n.op_type in UPSAMPLING_OPS]
    assert any(n.op_type == "DepthToSpace" for n in upsampling) or any(n.op_type == "Transpose" for n in upsampling)
    on_float = [(n.op_type, n.name, n.input_types) for n in upsampling if n.runs_on_float]
    assert on_float == []
    assert fp32_islands(nodes) == []


def test_model_card_fp32_nodes_are_the_runtime_view(lean_int8):
    card = json.loads((lean_int8 / "config.json").read_text())["quantization"]["fp32_nodes"]
    assert card == fp32_nodes(lean_int8 / "model.onnx")
    assert not any(n["op_type"] in UPSAMPLING_OPS for n in card)


def _node(name, op, inputs, types, outputs):
    return RuntimeNode(name, op, tuple(inputs), tuple(types), tuple(outputs))


def test_an_island_is_a_float_region_between_dequantize_and_quantize():
    sandwich = [_node("conv", "QLinearConv", ["x"], ["uint8"], ["a"]),
                _node("dq", "DequantizeLinear", ["a"], ["uint8"], ["af"]),
                _node("d2s", "DepthToSpace", ["af"], ["float"], ["b"]),
                _node("cat", "Concat", ["b", "sf"], ["float", "float"], ["c"]),
                _node("q", "QuantizeLinear", ["c"], ["float"], ["cq"]),
                _node("dq2", "DequantizeLinear", ["s"], ["uint8"], ["sf"])]
    assert [[n.name for n in island] for island in fp32_islands(sandwich)] == [["d2s", "cat"]]
    fused = [_node("conv", "QLinearConv", ["x"], ["uint8"], ["a"]),
             _node("d2s", "DepthToSpace", ["a"], ["uint8"], ["b"]),
             _node("cat", "QLinearConcat", ["b", "s"], ["uint8", "uint8"], ["c"])]
    assert fp32_islands(fused) == [] and not any(n.runs_on_float for n in fused)
    head = [_node("dq", "DequantizeLinear", ["a"], ["uint8"], ["af"]),
            _node("sig", "Sigmoid", ["af"], ["float"], ["y"])]  # the float output head is no island
    assert fp32_islands(head) == [] and [n.name for n in head if n.runs_on_float] == ["sig"]


def _openvino_float_work(model_path):
    from personseg.runtime.openvino import compile_openvino

    nodes = openvino_executed_nodes(compile_openvino(model_path, 1, 64))
    int8 = {t: sum(1 for n in nodes if n.layer_type == t and n.runtime_precision in ("u8", "i8")) for t in OV_WORK}
    return int8, [(n.layer_type, n.name, n.runtime_precision) for n in nodes if n.layer_type in OV_WORK
                  and n.runs_on_float]


def test_openvino_runs_the_lean_decoder_int8_between_int8_convolutions(lean_int8):
    pytest.importorskip("openvino")
    int8, on_float = _openvino_float_work(lean_int8 / "model.onnx")
    # only the convolution that reads the image runs on float: kept FP32 on purpose, before any INT8 op
    kept = json.loads((lean_int8 / "config.json").read_text())["quantization"]["excluded_nodes"]
    assert [(t, any(n.startswith(k) for k in kept)) for t, n, _ in on_float] == [("Convolution", True)], on_float
    assert int8["DepthToSpace"] == 4 and int8["Concatenation"] == 4 and int8["Convolution"] >= 18, int8


def test_openvino_reader_sees_an_op_type_kept_in_fp32(lean_int8, tiny_dataset, tmp_path):
    """The check above is not vacuous: with Conv left out of quantization, OpenVINO runs float Convolutions."""
    pytest.importorskip("openvino")
    from personseg.data.loading import load_dataset
    from personseg.quantize.calibration import as_inputs
    from personseg.quantize.onnx_backend import OnnxQuantSettings, quantize_onnx
    from personseg.quantize.step import export

    fp32 = export(str(lean_int8.parent / "lean4"), tmp_path / "fp32") / "model.onnx"
    calib = as_inputs(load_dataset(tiny_dataset, 64))[:16]
    quantize_onnx(fp32, tmp_path / "no-conv.onnx", calib, lambda path: 1.0, OnnxQuantSettings(max_trials=1), {"Conv"})
    int8, on_float = _openvino_float_work(tmp_path / "no-conv.onnx")
    assert int8["Convolution"] == 0 and [t for t, _, _ in on_float].count("Convolution") >= 19, on_float


def test_openvino_fp32_nodes_leave_out_boundaries_and_views():
    def node(name, layer, precision, outputs):
        return OpenVINONode(name, layer, precision, tuple(outputs.split(",")), ())

    nodes = [node("in", "Input", "f32", "f32"), node("q", "FakeQuantize", "f32", "u8"),
             node("conv", "Convolution", "u8", "u8"), node("w", "Reshape", "f32", "f32"),
             node("dq", "Convert", "u8", "f32"), node("rq", "FakeQuantize", "f32", "f32"),
             node("sub", "Eltwise", "f32", "f32"), node("bf", "Convolution", "bf16", "bf16"),
             node("out", "Output", "f32", "f32")]
    assert [n.name for n in nodes if n.runs_on_float] == ["rq", "sub", "bf"]


class _Any:
    def __init__(self, value):
        self.value = value

    def astype(self, kind):
        return self.value


class _Op:
    def __init__(self, name, info, inputs=()):
        self.name, self.info, self._inputs = name, {k: _Any(v) for k, v in info.items()}, inputs

    def get_friendly_name(self):
        return self.name

    def get_rt_info(self):
        return self.info

    def inputs(self):
        return [type("In", (), {"get_source_output": lambda s, op=op: type(
            "Out", (), {"get_node": lambda s2: op})()})() for op in self._inputs]


def test_openvino_fp32_nodes_read_the_runtime_models_rt_info():
    # Stand-in for ``compiled.get_runtime_model()``: only the rt_info keys OpenVINO documents for its
    # execution graph. What the real runtime model holds is checked on real models by the tests above.
    src = _Op("in", {"layerType": "Input", "runtimePrecision": "f32", "outputPrecisions": "f32"})
    conv = _Op("conv", {"layerType": "Convolution", "runtimePrecision": "f32", "outputPrecisions": "f32"}, (src,))
    model = type("M", (), {"get_ordered_ops": lambda s: [src, conv]})()
    compiled = type("C", (), {"get_runtime_model": lambda s: model})()
    assert openvino_executed_nodes(compiled)[1].inputs == ("in",)
    assert openvino_fp32_nodes(compiled) == [{"name": "conv", "op_type": "Convolution", "precision": "f32"}]
