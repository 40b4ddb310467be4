"""Scalar metrics and the Markdown report the KFP UI shows for one evaluation.

The report mirrors the published result: bilinear FP32 -> swapped FP32 (the decoder swap's
speedup) -> INT8 (quantization's speedup over the same network in FP32 ONNX), and their product,
next to the end-to-end speedup measured directly, so a reader can see whether the two gains compose.
"""

from __future__ import annotations

import json
import re
from typing import Any

from personseg.evaluate.report import markdown_table
from personseg.pipeline_logic.gate import GateDecision, model_row

BASELINE = "bilinear"
SWAPPED = "swapped"
FP32 = "onnx-fp32"
INT8 = "int8"


def chain(result: dict) -> dict[str, float]:
    """Speedup of each step (swap, torch -> ONNX Runtime, quantize), the swap x quantize product, measured.

    All figures come from one interleaved timing run, so ``swap * runtime * quantize`` equals the
    directly ``measured`` INT8-over-bilinear speedup.
    """
    base, swapped, fp32, int8 = (model_row(result, n)["latency_ms"]["median"] for n in (BASELINE, SWAPPED, FP32, INT8))
    swap, runtime, quant = base / swapped, swapped / fp32, fp32 / int8
    return {"swap": swap, "runtime": runtime, "quantize": quant, "product": swap * quant, "measured": base / int8}


def _key(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", name.lower()).strip("_")


def scalar_metrics(result: dict, decision: GateDecision, production_iou: float | None) -> dict[str, float]:
    """Flat ``{name: number}`` for a KFP ``Metrics`` artifact: IoU, latency, speedup per model."""
    out: dict[str, float] = {}
    for row in result["models"]:
        key = _key(row["name"])
        out[f"iou_{key}"] = float(row["iou"])
        out[f"latency_ms_{key}"] = float(row["latency_ms"]["median"])
        out[f"speedup_{key}"] = float(row["speedup"])
        if row.get("extra"):
            out[f"iou_extra_{key}"] = float(row["extra"]["iou"])
    out.update({f"speedup_chain_{k}": float(v) for k, v in chain(result).items()})
    if production_iou is not None:
        out["iou_production"] = float(production_iou)
    out["deploy"] = 1.0 if decision.deploy else 0.0
    return out


def chain_table(result: dict) -> str:
    """Markdown: bilinear FP32 -> swapped -> FP32 ONNX -> INT8 with per-step and cumulative speedups."""
    c = chain(result)
    rows = [("baseline", BASELINE, "bilinear FP32 (PyTorch)", 1.0), ("swap decoder", SWAPPED, "swapped FP32 (PyTorch)",
             c["swap"]), ("export", FP32, "swapped FP32 (ONNX Runtime)", c["runtime"]),
            ("quantize", INT8, "swapped INT8 (ONNX Runtime)", c["quantize"])]
    lines = ["| step | model | IoU | median ms/batch | step speedup | cumulative |", "|---|---|---|---|---|---|"]
    total = 1.0
    for step, name, label, speedup in rows:
        row = model_row(result, name)
        total *= speedup
        lines.append(f"| {step} | {label} | {row['iou']:.4f} | {row['latency_ms']['median']:.1f} | {speedup:.2f}x "
                     f"| {total:.2f}x |")
    lines += ["", f"Decoder swap x quantization: **{c['product']:.2f}x** ({c['swap']:.2f}x x {c['quantize']:.2f}x); "
              f"with the move to ONNX Runtime, INT8 runs **{c['measured']:.2f}x** as fast as bilinear FP32."]
    return "\n".join(lines) + "\n"


def extra_section(result: dict) -> str:
    """Markdown: each model's quality on the second evaluation set beside its test-split IoU."""
    extra = result.get("extra_data")
    if not extra:
        return ""
    lines = [f"## Second evaluation set: {extra['uri']} ({extra['samples']} images)", "",
             f"| model | IoU on {extra['uri']} | IoU on test ({result['data']['samples']} images) |", "|---|---|---|"]
    lines += [f"| {m['name']} | {m['extra']['iou']:.4f} | {m['iou']:.4f} |" for m in result["models"]]
    return "\n".join(lines) + "\n"


def markdown_report(result: dict, decision: GateDecision, production: dict[str, Any] | None,
                    settings: dict[str, Any]) -> str:
    """The whole report: verdict, the chain, the full table, production, and the settings used."""
    checks = "\n".join(f"- **{name}**: {'passed' if c.passed else 'failed'} ({c.detail})"
                       for name, c in decision.checks.items())
    prod = ("No production model in the registry yet." if production is None else
            f"Production model {production['ref']}: IoU {production['iou']:.4f} on the same test images.")
    return "\n".join([
        "# Person segmentation: speed and accuracy",
        "",
        f"**Gate: {'deploy' if decision.deploy else 'not deployed'}**",
        "",
        checks,
        "",
        "## Bilinear FP32 -> swapped -> INT8",
        "",
        chain_table(result),
        extra_section(result),
        "## All models",
        "",
        markdown_table(result),
        "## Production",
        "",
        prod,
        "",
        "## Settings",
        "",
        "```json",
        json.dumps(settings, indent=2, sort_keys=True, default=str),
        "```",
        "",
    ])
