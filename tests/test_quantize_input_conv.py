"""The convolution that reads the image stays FP32 by default (INC and NNCF), read from what the runtimes run."""

import json
from pathlib import Path

import onnx
import pytest

from personseg.quantize.input_convs import input_convs
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


def test_the_openvino_candidate_quantizes_the_input_conv_as_inc_would(tiny_int8, tiny_onnx_fp32, tiny_dataset,
                                                                      tmp_path):
    import numpy as np
    from onnx import numpy_helper

    from personseg.data.loading import load_dataset
    from personseg.quality import agreement_iou
    from personseg.quantize.calibration import as_inputs
    from personseg.quantize.input_convs import IMAGE_SCALE, quantize_input_convs
    from personseg.quantize.rounding import ConvGeometry, patch_moments
    from personseg.runtime import predict_masks
    from personseg.runtime.onnx import onnx_session

    tuned = onnx.load(str(tiny_int8 / "model.onnx"))
    data = load_dataset(tiny_dataset, 64)
    x = as_inputs(data)
    model, names = quantize_input_convs(tuned, x)
    onnx.checker.check_model(model)
    assert names == input_convs(tuned) and len(names) == 1
    path = tmp_path / "model.onnx"
    onnx.save_model(model, str(path))
    # the image is quantized on the 8-bit pixel grid, then the conv runs INT8: nothing left on float before it
    assert [n.op_type for n in _readers_of_input(path)] == ["QuantizeLinear"]
    assert not [n for n in executed_nodes(path) if n.runs_on_float and "Conv" in n.op_type]
    inits = {i.name: numpy_helper.to_array(i) for i in model.graph.initializer}
    (conv,) = [n for n in tuned.graph.node if n.name == names[0]]
    weight = numpy_helper.to_array(next(i for i in tuned.graph.initializer if i.name == conv.input[1]))
    q, scale = inits[f"{conv.input[1]}_quantized"], inits[f"{conv.input[1]}_scale"]
    assert q.dtype == np.int8 and scale.shape == (weight.shape[0],)  # one scale per output channel
    steps = weight / scale.reshape(-1, 1, 1, 1)
    assert np.all((q == np.floor(steps)) | (q == np.ceil(steps)))  # each weight one step down or up
    nearest = {i.name: numpy_helper.to_array(i)
               for i in quantize_input_convs(tuned, x, correction="bias")[0].graph.initializer}
    q_nearest = nearest[f"{conv.input[1]}_quantized"]
    assert np.abs(q_nearest * scale.reshape(-1, 1, 1, 1) - weight).max() <= scale.max() / 2 + 1e-7
    assert (q != q_nearest).any()
    image = model.graph.input[0].name
    assert inits[f"{image}_scale"] == np.float32(IMAGE_SCALE) and inits[f"{image}_zero_point"] == 0
    # the bias takes back the mean shift of the weights' rounding on these images' 3x3 patches
    moments = patch_moments(x, ConvGeometry(kernel=(3, 3), pads=(1, 1, 1, 1)))
    bias = numpy_helper.to_array(next(i for i in tuned.graph.initializer if i.name == conv.input[2]))
    error = q * scale.reshape(-1, 1, 1, 1) - weight
    corrected = inits[f"{conv.name}_corrected_bias"]
    assert np.allclose(corrected, bias - error.reshape(len(bias), -1) @ moments.mean, atol=1e-6)
    assert not np.allclose(corrected, bias)
    # and the output's error left after that is smaller than nearest rounding's, channel by channel
    def spread(steps_):
        e = (steps_ * scale.reshape(-1, 1, 1, 1) - weight).reshape(len(bias), -1)
        return np.einsum("ck,kl,cl->c", e, moments.covariance, e)
    assert np.all(spread(q) <= spread(q_nearest) + 1e-12) and spread(q).sum() < 0.9 * spread(q_nearest).sum()
    plain = {i.name: numpy_helper.to_array(i)
             for i in quantize_input_convs(tuned, x, correction="none")[0].graph.initializer}
    assert np.array_equal(plain[f"{conv.input[1]}_quantized"], q_nearest)
    assert np.array_equal(plain[f"{conv.name}_corrected_bias"], bias)  # the control corrects nothing
    assert quantize_input_convs(model, x)[1] == []  # nothing float left to quantize
    # where INC's card says reduce_range (no VNNI), the image's convolution gets 7-bit weights like the rest
    seven_bit = {i.name: numpy_helper.to_array(i) for i in quantize_input_convs(tuned, x, True)[0].graph.initializer}
    assert np.abs(seven_bit[f"{conv.input[1]}_quantized"]).max() == 63 and np.abs(q).max() == 127
    reference = onnx_session(tiny_onnx_fp32 / "model.onnx", 1)
    ours = onnx_session(path, 1)
    masks = {k: predict_masks(lambda b, s=s: s.run(None, {s.get_inputs()[0].name: b})[0], x)
             for k, s in (("fp32", reference), ("int8", ours))}
    assert agreement_iou(masks["int8"], masks["fp32"], data.labels) >= 0.95


def test_openvino_runs_that_candidate_without_a_float_convolution(tiny_int8):
    pytest.importorskip("openvino")
    import numpy as np

    from personseg.quantize.input_convs import quantize_input_convs
    from personseg.quantize.openvino_graph import openvino_fp32_nodes
    from personseg.quantize.openvino_qdq import for_openvino
    from personseg.runtime.openvino import compile_openvino

    qdq = for_openvino(onnx.load(str(tiny_int8 / "model.onnx")))[0]
    as_tuned = openvino_fp32_nodes(compile_openvino(qdq.SerializeToString(), 1, 64))
    assert [n["op_type"] for n in as_tuned].count("Convolution") == 1  # the image's, as INC left it
    candidate = quantize_input_convs(qdq, np.full((2, 3, 64, 64), 0.5, np.float32))[0]
    assert not [n for n in openvino_fp32_nodes(compile_openvino(candidate.SerializeToString(), 1, 64))
                if n["op_type"] == "Convolution"]


def test_when_the_step_keeps_that_candidate_its_card_and_openvino_say_so(tiny_int8, tiny_onnx_fp32, tiny_dataset,
                                                                         tmp_path):
    """The chosen-candidate branch, forced: any margin qualifies it (its agreement is within the slack here)."""
    pytest.importorskip("openvino")
    from personseg.data.loading import load_dataset
    from personseg.quantize.calibration import as_inputs
    from personseg.quantize.openvino_model import build_openvino_model

    data = load_dataset(tiny_dataset, 64)
    x = as_inputs(data)
    metrics = build_openvino_model(tiny_int8, tiny_onnx_fp32 / "model.onnx", x[:32], x[-16:], data.labels[-16:],
                                   tmp_path / "ov", 0.9, methods=("inc", "inc-int8-input"), margin=-10.0)
    assert metrics["openvino_method"] == "inc-int8-input"
    card = json.loads((tmp_path / "ov" / "config.json").read_text())
    quantization = card["quantization"]
    assert quantization["fp32_input_convs"] is False and quantization["excluded_nodes"] == []
    assert quantization["input_convs_quantized"] == input_convs(onnx.load(str(tiny_int8 / "model.onnx")))
    assert not [n for n in quantization["fp32_nodes"] if n["op_type"] == "Convolution"]
    # the bilinear network's Interpolates run on f32 under every quantizer; no convolution does
    assert {k["node_type"] for k in card["openvino"]["executed"]["float_kernels"]} <= {"Interpolate"}
    assert "bias corrected" in card["openvino"]["measurements"]["inc-int8-input"]["source"]
    assert quantization["input_convs_correction"] == "rounding"


def test_an_unknown_correction_is_refused_by_name():
    import numpy as np

    from personseg.quantize.input_convs import quantize_input_convs

    with pytest.raises(ValueError, match="correction 'adaround': expected one of rounding, bias, none"):
        quantize_input_convs(onnx.ModelProto(), np.zeros((1, 3, 4, 4), np.float32), correction="adaround")
