"""Candidates: parsing the parameter, gating each, picking the fastest that passed, and the report's table.

Selection is tested on hand-written evaluation results with fixed timings (tests/pipeline_fixtures.py):
bilinear FP32 ONNX 100 ms/batch, swapped FP32 ONNX 50 ms; each INT8 candidate's IoU and time vary.
"""

from __future__ import annotations

import pytest
from pipeline_fixtures import candidates_index, eval_result, production

from personseg.errors import UserError
from personseg.steps import summary
from personseg.steps.candidates import DEFAULT, Candidate, canonical, parse_candidates
from personseg.steps.candidates_table import candidates_table
from personseg.steps.evaluate import gate_summary
from personseg.steps.runtime_builders import BUILDERS
from personseg.steps.selection import focus, judge, select


def _select(result: dict, index: dict | None = None, **gate: float):
    args = {"tolerable_iou_loss": 0.02, "min_speedup": 2.0, **gate}
    return select(judge(index or candidates_index(), result, **args), result)


def test_the_faster_of_two_passing_candidates_wins() -> None:
    # both 2.5x over their own FP32 ONNX; swapped INT8 400 images/s, bilinear INT8 200 images/s
    selection = _select(eval_result(bil_int8=(0.815, 40.0), swp_int8=(0.80, 20.0)))
    assert [v.passed for v in selection.verdicts] == [True, True]
    assert selection.winner == "swapped:onnxruntime"
    assert selection.why == ("swapped:onnxruntime: fastest of the 2 that passed (400.0 images/s), 2.00x faster "
                             "than the next (bilinear:onnxruntime).")
    # the same gains, timings swapped round: speed decides, not the order the parameter named them in
    selection = _select(eval_result(bil_int8=(0.815, 16.0), swp_int8=(0.80, 20.0)), min_speedup=2.5)
    assert selection.winner == "bilinear:onnxruntime"
    assert "bilinear:onnxruntime: fastest of the 2 that passed (500.0 images/s), 1.25x faster than the next " \
           "(swapped:onnxruntime)" in selection.why


def test_a_failing_candidate_never_wins_however_fast() -> None:
    # swapped INT8 is the fastest (800 images/s) but loses 0.11 IoU against its own FP32 ONNX
    result = eval_result(bil_int8=(0.815, 40.0), swp_int8=(0.70, 10.0))
    selection = _select(result)
    assert selection.winner == "bilinear:onnxruntime"
    assert selection.why.startswith("bilinear:onnxruntime: the only one of the 2 candidates that passed; "
                                    "swapped:onnxruntime failed accuracy (swapped-int8-onnxruntime IoU 0.7000 vs "
                                    "swapped-fp32-onnx 0.8100: loss 0.1100")
    table = candidates_table(result, selection)
    # both losses of every candidate: against its own FP32 ONNX and against the seed
    assert ("| swapped:onnxruntime | 0.7000 | +0.1100 | +0.1200 | 0.9850 | 5.00x | 20.00x | 800.0 | **FAIL** | "
            "**FAIL** | pass | pass | pass | pass | - | failed |") in table
    assert ("| bilinear:onnxruntime | 0.8150 | +0.0050 | +0.0050 | 0.9900 | 2.50x | 5.00x | 200.0 | pass | pass | "
            "pass | pass | pass | pass | - | **winner** |") in table
    gate = gate_summary(selection)
    assert gate["deploy"] is True and gate["winner"] == "bilinear:onnxruntime" and gate["checks"]["speed"]["passed"]


def test_when_none_passes_nothing_wins_and_the_report_says_why_each_failed() -> None:
    # swapped fails speed (1.25x < 2x); bilinear fails accuracy and speed; production blocks neither
    result = eval_result(bil_int8=(0.75, 80.0), swp_int8=(0.80, 40.0))
    selection = _select(result, production=production(0.5))
    assert selection.winner == "" and not any(v.passed for v in selection.verdicts)
    assert selection.why.startswith("No candidate passed: bilinear:onnxruntime failed accuracy (")
    assert "), speed (bilinear-int8-onnxruntime 1.25x over bilinear-fp32-onnx" in selection.why
    assert "; swapped:onnxruntime failed speed (swapped-int8-onnxruntime 1.25x over swapped-fp32-onnx" \
        in selection.why
    text = summary.markdown_report(result, selection, None, {})
    assert "**Gate: not deployed**" in text and selection.why in text
    assert ("| bilinear:onnxruntime | 0.7500 | +0.0700 | +0.0700 | 0.9900 | 1.25x | 2.50x | 100.0 | **FAIL** | "
            "**FAIL** | pass | **FAIL** | pass | pass | - | failed |") in text
    # the chain and gallery show the fastest candidate, said to be undeployed
    assert focus(selection, result).name == "swapped:onnxruntime"
    assert "## Bilinear FP32 -> swapped:onnxruntime (the fastest candidate; not deployed)" in text
    metrics = summary.scalar_metrics(result, selection, None)
    assert metrics["deploy"] == 0.0 and metrics["candidates_passed"] == 0.0
    assert gate_summary(selection) == {"deploy": False, "winner": "", "summary": selection.why, "checks": {}}


def test_a_candidate_that_failed_to_quantize_is_shown_and_never_picked() -> None:
    reason = "quantize: INT8 masks agree with FP32 at IoU 0.4000 < --min-agreement 0.95; not writing a model"
    index = candidates_index(failed={"swapped": reason})
    result = eval_result()
    result["models"] = [m for m in result["models"] if m["name"] != "swapped-int8-onnxruntime"]  # never evaluated
    selection = _select(result, index)
    assert selection.winner == "bilinear:onnxruntime"
    assert selection.why == (f"bilinear:onnxruntime: the only one of the 2 candidates that passed; swapped:onnxruntime "
                             f"failed before evaluation ({reason}).")
    table = candidates_table(result, selection)
    assert f"| swapped:onnxruntime |{' - |' * 14} failed before evaluation: {reason} |" in table
    assert selection.verdict("swapped:onnxruntime").to_dict()["gate"] is None


def test_candidates_parse_and_every_mistake_names_the_parameter_and_value() -> None:
    assert parse_candidates(DEFAULT) == [Candidate(n, r) for n in ("bilinear", "swapped")  # each on each runtime
                                         for r in ("onnxruntime", "openvino")]
    assert [c.name for c in parse_candidates(" swapped : onnxruntime ")] == ["swapped:onnxruntime"]
    assert canonical("swapped:onnxruntime , bilinear:onnxruntime") == "swapped:onnxruntime,bilinear:onnxruntime"
    assert Candidate("swapped", "onnxruntime").model_dir == "swapped-int8-onnxruntime"
    for value, why in [("", "empty"), (" , ", "empty"), ("swapped", "'swapped' is not network:runtime"),
                       ("swapped:", "'swapped:' is not network:runtime"),
                       ("lean4:onnxruntime", "unknown network 'lean4'"),
                       ("swapped:tensorrt", "unknown runtime 'tensorrt'"),
                       ("swapped:onnxruntime,swapped:onnxruntime", "swapped:onnxruntime is named twice"),
                       ("bilinear:onnxruntime,", "'' is not network:runtime")]:
        with pytest.raises(UserError) as err:
            parse_candidates(value)
        assert str(err.value).startswith(f"candidates {value!r}: {why}; expected comma-separated network:runtime")
        assert "runtime in onnxruntime" in str(err.value)


def test_a_runtime_is_one_registration(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(BUILDERS, "other", BUILDERS["onnxruntime"])
    assert [c.model_dir for c in parse_candidates("swapped:other,swapped:onnxruntime")] == [
        "swapped-int8-other", "swapped-int8-onnxruntime"]
