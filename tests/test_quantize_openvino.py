"""``personseg quantize --runtime openvino``: INC's INT8 ONNX (or NNCF's, if measured faster) as OpenVINO IR."""

import json
import re

import numpy as np
import pytest

from personseg.errors import UserError
from personseg.quantize.openvino_model import METHODS, Measured, choose_method

pytest.importorskip("openvino")
pytest.importorskip("nncf")


@pytest.fixture(scope="module")
def ov_lean(tiny_model, tiny_dataset, tmp_path_factory):
    """The lean (DepthToSpace) swap of the tiny model, quantized for OpenVINO through the CLI."""
    from personseg.cli import main
    from personseg.swap.step import SwapConfig
    from personseg.swap.step import run as swap

    root = tmp_path_factory.mktemp("ov")
    swap(SwapConfig(model=str(tiny_model), data=str(tiny_dataset), design="lean", squeeze=4, epochs=0), root / "lean4")
    code = main(["quantize", "--runtime", "openvino", "--model", str(root / "lean4"), "--data", str(tiny_dataset),
                 "--out", str(root / "ov"), "--calibration", "32", "--max-trials", "1"])
    assert code == 0
    return root / "ov"


def test_the_openvino_model_card(ov_lean):
    card = json.loads((ov_lean / "config.json").read_text())
    assert (card["kind"], card["runtime"], card["precision"], card["weights"]) == ("openvino", "openvino", "int8",
                                                                                   "model.xml")
    assert (ov_lean / "model.bin").is_file() and not (ov_lean / "model.onnx").exists()
    assert card["calibration"]["count"] == 32 and len(card["calibration"]["sha256"]) == 64
    assert card["quantization"]["backend"] == "openvino" and card["quantization"]["config"]["runtime"] == "openvino"
    section = card["openvino"]
    assert section["method"] in METHODS and section["inference_precision"] == "f32"
    measured = section["measurements"]
    assert set(measured) == {"inc", "inc-int8-input", "nncf"}
    for figures in measured.values():
        assert figures["latency_ms"] > 0 and 0 < figures["agreement_iou"] <= 1
    expected = choose_method({k: Measured(k, m["latency_ms"], m["agreement_iou"], 0.0) for k, m in measured.items()},
                             card["quantization"]["min_agreement"], section["margin"])
    assert section["method"] == expected
    assert measured["inc"]["openvino_qdq"]["float_outputs"] == 1  # INC's model as rewritten for OpenVINO
    executed = section["executed"]  # where the chosen model's batch goes, from OpenVINO's counters
    assert executed["batch"] == 8 and executed["total_ms"] > 0 and executed["by_type"]["Convolution"]["count"] >= 18
    # the image's convolution, kept FP32 unless the candidate that quantizes it won
    image_conv_float = expected != "inc-int8-input"
    assert [k["node_type"] for k in executed["float_kernels"]] == (["Convolution"] if image_conv_float else [])
    assert card["quantization"]["fp32_input_convs"] is image_conv_float
    metrics = json.loads((ov_lean / "metrics.json").read_text())
    assert metrics["openvino_method"] == expected
    assert metrics["agreement_iou"] == measured[expected]["agreement_iou"] >= 0.95


def _unnumbered(nodes: list[dict]) -> list[dict]:
    return [{**n, "name": re.sub(r"_\d+", "_N", n["name"])} for n in nodes]


def test_the_cards_fp32_nodes_are_what_openvino_runs_on_float(ov_lean):
    from personseg.quantize.openvino_graph import openvino_fp32_nodes
    from personseg.runtime.openvino import compile_openvino

    card = json.loads((ov_lean / "config.json").read_text())["quantization"]["fp32_nodes"]
    # OpenVINO numbers the nodes it creates (Constant_67799_...) from a process-wide counter, so a second
    # compilation names them differently: compare with those numbers taken out.
    assert _unnumbered(card) == _unnumbered(openvino_fp32_nodes(compile_openvino(ov_lean / "model.xml", 1, 64)))
    assert not any(n["op_type"] in ("DepthToSpace", "Concatenation") for n in card), card
    # no requantization or zero-point arithmetic on float either (INC's QDQ as it is had both)
    assert {n["op_type"] for n in card} <= {"Convolution", "Reorder"}, card
    # the one float convolution is the one that reads the image, kept FP32 on purpose (onnx_backend) unless the
    # candidate that quantizes it was faster (input_convs)
    quantization = json.loads((ov_lean / "config.json").read_text())["quantization"]
    kept = quantization["excluded_nodes"]
    convs = [n["name"] for n in card if n["op_type"] == "Convolution"]
    if quantization["fp32_input_convs"]:
        assert len(convs) == 1 and any(convs[0].startswith(k) for k in kept), (convs, kept)
    else:
        assert convs == [] and kept == [] and len(quantization["input_convs_quantized"]) == 1


def test_the_saved_ir_agrees_with_the_fp32_model(ov_lean, tiny_dataset):
    from personseg.data.loading import load_dataset
    from personseg.quality import agreement_iou
    from personseg.quantize.calibration import as_inputs
    from personseg.quantize.step import export
    from personseg.runtime import load_predictor, predict_masks

    images = as_inputs(load_dataset(tiny_dataset, 64))[-16:]
    fp32 = load_predictor(export(str(ov_lean.parent / "lean4"), ov_lean.parent / "fp32"), 1)
    int8 = load_predictor(ov_lean, 1)
    assert int8.runtime == "openvino"
    reference, masks = predict_masks(fp32.logits, images), predict_masks(int8.logits, images)
    assert reference.any() and not reference.all()
    assert agreement_iou(masks, reference) >= 0.95


def _m(method, latency, agreement):
    return Measured(method, latency, agreement, 0.0)


def _choose(*candidates: Measured) -> str:
    return choose_method({m.method: m for m in candidates}, 0.95, 0.05)


def test_inc_is_kept_unless_another_candidate_is_faster_by_more_than_the_margin_and_passes_the_gate():
    inc = _m("inc", 10.0, 0.98)
    assert _choose(inc, _m("nncf", 10.0, 0.99)) == "inc"  # a tie keeps INC
    assert _choose(inc, _m("nncf", 9.7, 0.99)) == "inc"  # within the margin
    assert _choose(inc, _m("nncf", 9.0, 0.99)) == "nncf"
    assert _choose(inc, _m("nncf", 9.0, 0.976)) == "nncf"  # as good, within the slack
    assert _choose(inc, _m("nncf", 9.0, 0.97)) == "inc"  # faster, but its masks move more
    assert _choose(inc, _m("nncf", 5.0, 0.94)) == "inc"  # fast but below the gate
    assert _choose(inc) == "inc"
    assert _choose(_m("inc", 10.0, 0.90), _m("nncf", 12.0, 0.97)) == "nncf"
    with pytest.raises(UserError, match="no candidate reaches --min-agreement 0.95.*inc 0.9000, nncf 0.9100"):
        _choose(_m("inc", 10.0, 0.90), _m("nncf", 8.0, 0.91))


def test_of_the_candidates_that_qualify_the_fastest_wins():
    inc = _m("inc", 10.0, 0.98)
    assert _choose(inc, _m("inc-int8-input", 8.8, 0.977), _m("nncf", 8.5, 0.978)) == "nncf"
    assert _choose(inc, _m("inc-int8-input", 8.8, 0.977), _m("nncf", 8.5, 0.96)) == "inc-int8-input"
    assert _choose(inc, _m("inc-int8-input", 9.8, 0.98), _m("nncf", 8.5, 0.96)) == "inc"  # neither qualifies
    # INC below the gate: the best agreement of those that pass, not the fastest
    assert _choose(_m("inc", 10.0, 0.90), _m("inc-int8-input", 8.0, 0.96), _m("nncf", 9.0, 0.97)) == "nncf"


def test_build_refuses_a_model_that_is_not_the_inc_int8_onnx(tmp_path):
    from serving_fixtures import make_tiny_model

    from personseg.quantize.openvino_model import build_openvino_model

    fp32 = make_tiny_model(tmp_path / "fp32")
    x = np.zeros((8, 3, 64, 64), np.float32)
    with pytest.raises(UserError, match="INT8 ONNX model of the INC path"):
        build_openvino_model(fp32, fp32 / "model.onnx", x, x, np.zeros((8, 64, 64), np.uint8), tmp_path / "out", 0.95)
    assert not (tmp_path / "out").exists()


def test_quantize_names_an_unknown_runtime(tiny_model, tiny_dataset, tmp_path):
    from personseg.quantize.step import QuantizeConfig, run

    with pytest.raises(UserError, match="--runtime 'tensorrt'"):
        run(QuantizeConfig(model=str(tiny_model), data=str(tiny_dataset), runtime="tensorrt"), tmp_path / "out")
