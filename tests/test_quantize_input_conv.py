"""The convolution that reads the image stays FP32 by default (INC and NNCF), read from what the runtimes run."""

import json
from pathlib import Path

import onnx
import pytest

from personseg.quantize.onnx_backend import input_convs
from personseg.quantize.ort_graph import executed_nodes, fp32_islands
from personseg.quantize.step import QuantizeConfig, run


def _readers_of_input(model_path: Path) -> list:
    """The executed nodes that take the graph's input, as ONNX Runtime runs them."""
    graph_inputs = {i.name for i in onnx.load(str(model_path)).graph.input}
    return [n for n in executed_nodes(model_path) if set(n.inputs) & graph_inputs]


def test_input_convs_are_the_convolutions_fed_by_the_graph_input(tiny_onnx_fp32):
    model = onnx.load(str(tiny_onnx_fp32 / "model.onnx"))
    names = input_convs(model)
    assert len(names) == 1
    (node,) = [n for n in model.graph.node if n.name == names[0]]
    assert node.op_type == "Conv" and node.input[0] == model.graph.input[0].name
    assert node is next(n for n in model.graph.node if n.op_type == "Conv")  # the first convolution


def test_by_default_onnx_runtime_runs_the_input_conv_on_float_and_nothing_else_around_it(tiny_int8, tiny_onnx_fp32):
    card = json.loads((tiny_int8 / "config.json").read_text())["quantization"]
    assert card["fp32_input_convs"] is True
    assert card["excluded_nodes"] == input_convs(onnx.load(str(tiny_onnx_fp32 / "model.onnx")))
    readers = _readers_of_input(tiny_int8 / "model.onnx")
    assert readers and all(n.runs_on_float and "Conv" in n.op_type for n in readers)
    # at the input, not between INT8 ops (the bilinear model's Resize islands are another matter: test_int8_resize)
    in_islands = {n.name for island in fp32_islands(executed_nodes(tiny_int8 / "model.onnx")) for n in island}
    assert not in_islands & {n.name for n in readers}
    assert {"name": readers[0].name, "op_type": readers[0].op_type} in card["fp32_nodes"]


def test_int8_input_convs_quantizes_it(tiny_model, tiny_dataset, tiny_int8, tmp_path):
    out = tmp_path / "q"
    run(QuantizeConfig(model=str(tiny_model), data=str(tiny_dataset), calibration=16, max_trials=1,
                       fp32_input_convs=False), out)
    card = json.loads((out / "config.json").read_text())["quantization"]
    assert card["fp32_input_convs"] is False and card["excluded_nodes"] == []
    readers = _readers_of_input(out / "model.onnx")
    assert [n.op_type for n in readers] == ["QuantizeLinear"]  # the image is quantized, then the conv runs INT8
    default = json.loads((tiny_int8 / "config.json").read_text())["quantization"]["fp32_nodes"]
    # what the default adds on float is the input conv (and ORT's layout reorder after it), nothing else
    assert [n for n in card["fp32_nodes"] if n not in default] == []
    assert [n["op_type"] for n in default if n not in card["fp32_nodes"]][0] == "Conv"
    assert not [n for n in card["fp32_nodes"] if n["op_type"] == "Conv"]


@pytest.mark.parametrize("keep", [True, False])
def test_nncf_leaves_the_input_conv_in_fp32_when_asked(tiny_onnx_fp32, tiny_dataset, keep):
    import numpy as np

    from personseg.data.loading import load_dataset
    from personseg.quantize.openvino_graph import openvino_fp32_nodes
    from personseg.quantize.openvino_model import input_convolutions, nncf_model
    from personseg.runtime.openvino import compile_openvino, read_openvino_model

    fp32 = tiny_onnx_fp32 / "model.onnx"
    names = input_convolutions(read_openvino_model(fp32))
    assert len(names) == 1
    x = np.ascontiguousarray(load_dataset(tiny_dataset, 64).images[:16].transpose(0, 3, 1, 2), np.float32) / 255
    model, recipe = nncf_model(fp32, x, keep)
    assert recipe["excluded_nodes"] == (names if keep else [])
    float_convs = [n for n in openvino_fp32_nodes(compile_openvino(model, 1, 64)) if n["op_type"] == "Convolution"]
    assert bool(float_convs) == keep
