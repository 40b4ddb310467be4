"""The swapped decoder runs INT8 end to end, read from the graph ONNX Runtime executes (after its fusions)."""

import json

import pytest

from personseg.quantize.runtime_graph import RuntimeNode, executed_nodes, fp32_islands, fp32_nodes

UPSAMPLING_OPS = {"DepthToSpace", "Concat", "Transpose", "Reshape"}


@pytest.fixture(scope="module")
def lean_int8(tiny_model, tiny_dataset, tmp_path_factory):
    from personseg.quantize.step import QuantizeConfig, run
    from personseg.swap import SwapConfig
    from personseg.swap import run as swap

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
