"""Scalar metrics and the Markdown report the KFP UI shows for one evaluation.

The report leads with the verdict and why the winner won, then every candidate (``candidates_table``),
then the chain of the winner (the fastest candidate evaluated, when none passed): bilinear FP32 eager
-> bilinear FP32 ONNX (the runtime switch) -> swapped FP32 ONNX (the decoder swap) -> INT8 on its
runtime (quantization), each step's speedup and their product, which equals the end-to-end speedup
measured directly, so a reader can see where the gain comes from.
"""

from __future__ import annotations

import json
import re
from typing import Any

from personseg.evaluate.report import markdown_table
from personseg.steps.candidates import fp32_onnx_dir
from personseg.steps.candidates_table import candidates_table
from personseg.steps.gate import model_row
from personseg.steps.selection import Selection, Verdict, focus

BASELINE = "bilinear"
TITLE = "# Person segmentation: speed and accuracy"
# What a terminal shows after the verdict: every candidate, and the chain from the seed to the winner
TERMINAL_SECTIONS = ("## Candidates", "## Bilinear FP32 -> ")


def chain_steps(result: dict, cand: Verdict) -> list[tuple[str, str, str]]:
    """(step, evaluation row, label) from the bilinear seed to ``cand``, skipping models not evaluated."""
    names = {m["name"] for m in result["models"]}
    seed_onnx = fp32_onnx_dir("bilinear")
    steps = [("baseline", BASELINE, "bilinear FP32 (PyTorch)")]
    if seed_onnx in names:
        steps.append(("export", seed_onnx, "bilinear FP32 (ONNX Runtime)"))
    if cand.fp32 != seed_onnx:
        steps.append(("swap decoder" if seed_onnx in names else "export + swap decoder", cand.fp32,
                      f"{cand.network} FP32 (ONNX Runtime)"))
    held = str(model_row(result, cand.row).get("precision", "int8")).upper()  # FP32 when nothing was quantized
    steps.append(("quantize", cand.row, f"{cand.network} {held} ({cand.runtime})"))
    return steps


def _key(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", name.lower()).strip("_")


def chain(result: dict, cand: Verdict) -> dict[str, float]:
    """Speedup of each step to ``cand`` (``export``, ``swap_decoder``, ``quantize``) and the ``measured`` total.

    All figures come from one interleaved timing run, so the steps multiply to ``measured``.
    """
    steps = chain_steps(result, cand)
    ms = [model_row(result, row)["latency_ms"]["median"] for _, row, _ in steps]
    out = {_key(step): ms[i - 1] / ms[i] for i, (step, _, _) in enumerate(steps) if i}
    return {**out, "measured": ms[0] / ms[-1]}


def scalar_metrics(result: dict, selection: Selection, production_iou: float | None) -> dict[str, float]:
    """Flat ``{name: number}`` for a KFP ``Metrics`` artifact: IoU, latency, speedup per model, the chain."""
    out: dict[str, float] = {}
    for row in result["models"]:
        key = _key(row["name"])
        out[f"iou_{key}"] = float(row["iou"])
        out[f"latency_ms_{key}"] = float(row["latency_ms"]["median"])
        out[f"speedup_{key}"] = float(row["speedup"])
        if row.get("extra"):
            out[f"iou_extra_{key}"] = float(row["extra"]["iou"])
    out.update({f"speedup_chain_{k}": float(v) for k, v in chain(result, focus(selection, result)).items()})
    if production_iou is not None:
        out["iou_production"] = float(production_iou)
    out["candidates_passed"] = float(sum(v.passed for v in selection.verdicts))
    out["deploy"] = 1.0 if selection.winner else 0.0
    return out


def chain_table(result: dict, cand: Verdict) -> str:
    """Markdown: bilinear FP32 -> ... -> ``cand`` with per-step and cumulative speedups."""
    lines = ["| step | model | IoU | median ms/batch | step speedup | cumulative |", "|---|---|---|---|---|---|"]
    first = prev = model_row(result, BASELINE)["latency_ms"]["median"]
    for step, name, label in chain_steps(result, cand):
        row = model_row(result, name)
        ms = row["latency_ms"]["median"]
        lines.append(f"| {step} | {label} | {row['iou']:.4f} | {ms:.1f} | {prev / ms:.2f}x | {first / ms:.2f}x |")
        prev = ms
    c = chain(result, cand)
    parts = [f"{cand.name} runs **{c['measured']:.2f}x** as fast as bilinear FP32 (PyTorch)"]
    if "swap_decoder" in c:
        parts.append(f"decoder swap x quantization: **{c['swap_decoder'] * c['quantize']:.2f}x** "
                     f"({c['swap_decoder']:.2f}x x {c['quantize']:.2f}x)")
    return "\n".join(lines) + "\n\n" + "; ".join(parts) + ".\n"


def extra_section(result: dict) -> str:
    """Markdown: each model's quality on the second evaluation set beside its test-split IoU."""
    extra = result.get("extra_data")
    if not extra:
        return ""
    lines = [f"## Second evaluation set: {extra['uri']} ({extra['samples']} images)", "",
             f"| model | IoU on {extra['uri']} | IoU on test ({result['data']['samples']} images) |", "|---|---|---|"]
    lines += [f"| {m['name']} | {m['extra']['iou']:.4f} | {m['iou']:.4f} |" for m in result["models"]]
    return "\n".join(lines) + "\n"


def markdown_report(result: dict, selection: Selection, production: dict[str, Any] | None,
                    settings: dict[str, Any]) -> str:
    """The whole report: verdict and why, every candidate, the chain, the full table, production, settings."""
    cand = focus(selection, result)
    verdict = f"deploy {selection.winner}" if selection.winner else "not deployed"
    checks = "\n".join(f"- **{name}**: {'passed' if c.passed else 'failed'} ({c.detail})"
                       for name, c in (cand.decision.checks.items() if cand.decision else []))
    chain_head = (f"## Bilinear FP32 -> {cand.name} (the winner)" if selection.winner else
                  f"## Bilinear FP32 -> {cand.name} (the fastest candidate; not deployed)")
    prod = ("No production model in the registry yet." if production is None else
            f"Production model {production['ref']}: IoU {production['iou']:.4f} on the same test images. A "
            "candidate replaces it only when the paired bootstrap of its per-image IoU gain puts the lower bound "
            "of the 95% interval above 0:\n\n" + "\n".join(
                f"- {v.name}: {v.decision.checks['production'].detail}" for v in selection.verdicts if v.decision))
    return "\n".join([
        TITLE,
        "",
        f"**Gate: {verdict}**",
        "",
        selection.why,
        "",
        "## Candidates",
        "",
        candidates_table(result, selection),
        chain_head,
        "",
        checks,
        "",
        chain_table(result, cand),
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


def terminal_summary(report: str) -> str:
    """The part of a ``markdown_report`` a person reads on a terminal, the rest staying in the file.

    Kept: the gate's verdict and why, the candidates table (each check's pass or FAIL) and the chain from
    the seed to the winner (quality and speed). Left to the file and the KFP UI: the checks' wording,
    the second evaluation set, every model's figures, production and the settings (a JSON dump). A
    report this module did not write (check_data's "no new data") is short and returned whole.
    """
    if not report.startswith(TITLE):
        return report
    kept: list[str] = []
    shown = True
    for line in report.splitlines():
        if line.startswith("## "):
            shown = line.startswith(TERMINAL_SECTIONS)
        if shown and not line.startswith("- **") and (line or (kept and kept[-1])):  # no checks, one blank line
            kept.append(line)
    return "\n".join(kept).rstrip() + "\n"
