"""Markdown: one row per candidate with the figures the gate read and each check's verdict.

"loss vs its FP32 ONNX" is what quantization cost (test IoU of the FP32 ONNX of its own network minus
the candidate's); "loss vs seed" is what the user loses end to end (the seed's FP32 test IoU minus the
candidate's). "agreement" is IoU against the FP32 ONNX model of the candidate's own network; "vs FP32
ONNX" is the speed gate's figure (INT8 over that same FP32 ONNX model); "end to end" is over the
bilinear FP32 PyTorch seed, the evaluation's baseline.
"""

from __future__ import annotations

from personseg.steps.gate import model_row
from personseg.steps.selection import Selection, Verdict

CHECKS = ("accuracy", "seed", "floor", "speed", "production", "int8", "extra")
FIGURES = 7  # the numeric columns before the checks


def _check_cells(v: Verdict) -> list[str]:
    checks = v.decision.checks if v.decision else {}
    return [("pass" if checks[k].passed else "**FAIL**") if k in checks else "-" for k in CHECKS]


def _row(result: dict, selection: Selection, v: Verdict) -> str:
    status = "**winner**" if v.name == selection.winner else "passed" if v.passed else "failed"
    if v.decision is None:
        cells = ["-"] * FIGURES + ["-"] * len(CHECKS) + [f"failed before evaluation: {v.reason}"]
    else:
        row, fp32, seed = model_row(result, v.row), model_row(result, v.fp32), model_row(result, result["baseline"])
        agreement = row.get("agreement_iou")
        cells = [f"{row['iou']:.4f}", f"{fp32['iou'] - row['iou']:+.4f}", f"{seed['iou'] - row['iou']:+.4f}",
                 "-" if agreement is None else f"{agreement:.4f}",
                 f"{fp32['latency_ms']['median'] / row['latency_ms']['median']:.2f}x", f"{row['speedup']:.2f}x",
                 f"{row['images_per_s']:.1f}", *_check_cells(v), status]
    return f"| {v.name} | " + " | ".join(cells) + " |"


def candidates_table(result: dict, selection: Selection) -> str:
    """Every candidate, evaluated or not, in the order the ``candidates`` parameter named them."""
    head = (f"| candidate | IoU | loss vs its FP32 ONNX | loss vs seed {result['baseline']} | agreement vs its FP32 "
            f"ONNX | speedup vs its FP32 ONNX | end to end vs {result['baseline']} | images/s | "
            + " | ".join(CHECKS) + " | verdict |")
    lines = [head, "|---" * (FIGURES + 2 + len(CHECKS)) + "|"]
    lines += [_row(result, selection, v) for v in selection.verdicts]
    return "\n".join(lines) + "\n"
