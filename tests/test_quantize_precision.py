"""A quantization that keeps no INT8 op is recorded, reported and gated as the FP32 model it is."""

import json
import logging

import onnx
import pytest
from pipeline_fixtures import SWP_FP32, SWP_INT8, candidates_index, eval_result
from quantize_faults import inject

from personseg.cli import main
from personseg.evaluate.step import EvalConfig
from personseg.evaluate.step import run as evaluate
from personseg.quantize.precision import quantized_op_count
from personseg.steps import summary
from personseg.steps.gate import decide
from personseg.steps.selection import judge, select


@pytest.fixture(scope="module")
def fell_back(tiny_model, tiny_dataset, tiny_onnx_fp32, tmp_path_factory):
    """``personseg quantize`` when tuning hands back the FP32 graph (every op type fell back to FP32)."""
    fp32_graph = onnx.load(str(tiny_onnx_fp32 / "model.onnx"))
    out = tmp_path_factory.mktemp("fallback") / "q"
    with pytest.MonkeyPatch.context() as mp:
        inject(mp, lambda model, excluded: fp32_graph)
        logs = logging.getLogger("personseg.quantize.step")
        records: list[str] = []
        handler = logging.Handler()
        handler.emit = lambda record: records.append(record.getMessage())
        logs.addHandler(handler)
        try:
            code = main(["quantize", "--model", str(tiny_model), "--data", str(tiny_dataset), "--out", str(out),
                         "--calibration", "8", "--max-trials", "1"])
        finally:
            logs.removeHandler(handler)
    assert code == 0
    return out, records


def test_config_records_fp32_when_the_graph_has_no_quantized_op(fell_back):
    out, _ = fell_back
    assert quantized_op_count(onnx.load(str(out / "model.onnx"))) == 0
    card = json.loads((out / "config.json").read_text())
    assert card["precision"] == "fp32"
    assert (card["quantization"]["quantized_ops"], card["quantization"]["int8_nodes"]) == (0, 0)
    assert json.loads((out / "metrics.json").read_text())["precision"] == "fp32"


def test_the_command_warns(fell_back, capsys):
    _, records = fell_back
    assert any(r.startswith("warning: quantize: quantization kept no INT8 op") and "recorded as fp32" in r
               for r in records), records


def test_a_real_int8_model_still_says_int8(tiny_int8):
    card = json.loads((tiny_int8 / "config.json").read_text())
    assert card["precision"] == json.loads((tiny_int8 / "metrics.json").read_text())["precision"] == "int8"
    assert card["quantization"]["quantized_ops"] > 10 and card["quantization"]["int8_nodes"] > 0


def test_evaluate_lists_it_as_fp32(fell_back, tiny_dataset, tiny_onnx_fp32):
    out, _ = fell_back
    result = evaluate(EvalConfig(models=(f"fp32={tiny_onnx_fp32}", f"quantized={out}"), data=str(tiny_dataset),
                                 rounds=1, warmup=0, measure_peak=False))
    row = next(m for m in result["models"] if m["name"] == "quantized")
    assert (row["kind"], row["precision"]) == ("onnx", "fp32")


def test_the_gate_names_an_fp32_candidate_and_refuses_it():
    result = eval_result()
    row = next(m for m in result["models"] if m["name"] == SWP_INT8)
    row["precision"] = "fp32"  # what evaluate reads from a fallback model's config
    decision = decide(result, tolerable_iou_loss=0.02, min_speedup=2.0, candidate=SWP_INT8, fp32=SWP_FP32)
    assert not decision.deploy and not decision.checks["int8"].passed
    assert "onnx fp32: quantization kept no INT8 op" in decision.checks["int8"].detail
    selection = select(judge(candidates_index(), result, 0.02, 2.0), result)
    assert selection.winner != "swapped:onnxruntime"
    report = summary.markdown_report(result, selection, None, {})
    assert "swapped:onnxruntime failed int8" in report
    assert summary.chain_steps(result, selection.verdict("swapped:onnxruntime"))[-1][2] == "swapped FP32 (onnxruntime)"


def test_the_gate_passes_an_int8_candidate_on_that_check():
    decision = decide(eval_result(), tolerable_iou_loss=0.02, min_speedup=2.0, candidate=SWP_INT8, fp32=SWP_FP32)
    assert decision.checks["int8"].passed and decision.deploy
