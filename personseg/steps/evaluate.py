"""The pipeline's evaluate step: evaluate every candidate, score production, gate each, pick, report.

One function, so the component stays a few lines and the whole step is testable without KFP.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from personseg.atomic import write_json
from personseg.errors import UserError
from personseg.modeldir import read_metrics
from personseg.steps.candidates import read_index
from personseg.steps.gallery import build_gallery
from personseg.steps.gate import check_thresholds, model_row
from personseg.steps.production import score_production
from personseg.steps.selection import Selection, focus, judge, select
from personseg.steps.summary import BASELINE, markdown_report, scalar_metrics


@dataclass(frozen=True)
class EvalOutcome:
    """Everything the UI shows, plus the winner the ``dsl.If`` reads (``""``: nothing to deploy)."""

    result: dict[str, Any]
    selection: Selection
    production: dict[str, Any] | None
    metrics: dict[str, float]
    markdown: str
    gallery: str

    @property
    def winner(self) -> str:
        """The candidate to deploy, ``""`` when none passed the gate."""
        return self.selection.winner


def evaluation_models(bilinear: str | Path, candidates_dir: str | Path, index: dict[str, Any]) -> dict[str, Path]:
    """``{row name: saved model}``: the seed FP32 eager (baseline), each network's FP32 ONNX, each INT8 candidate."""
    root = Path(candidates_dir)
    models = {BASELINE: Path(bilinear)}
    models.update({net["fp32_onnx"]: root / net["fp32_onnx"] for net in index["networks"].values()})
    models.update({c["path"]: root / c["path"] for c in index["candidates"] if c["status"] == "ok"})
    return models


def evaluate_candidates(data: str | Path, bilinear: str | Path, candidates_dir: str | Path, model_name: str,
                        tolerable_iou_loss: float, min_speedup: float, rounds: int = 10, batch_size: int = 8,
                        report_json: str | Path | None = None, extra: tuple[str, str | Path] | None = None,
                        min_extra_iou: float = 0.0, min_iou: float = 0.0) -> EvalOutcome:
    """Evaluate the models side by side on the test split (and ``extra``), gate each candidate, pick one.

    ``extra`` is (name, folder) of a second evaluation set, scored whole for quality. Every candidate is
    held to the seed (``bilinear``) within ``tolerable_iou_loss`` and to ``min_iou`` (``gate.decide``).
    """
    from personseg.evaluate.step import EvalConfig, run

    check_thresholds(tolerable_iou_loss, min_speedup, min_extra_iou, min_iou)  # before minutes of evaluation
    index = read_index(candidates_dir)
    if not any(c["status"] == "ok" for c in index["candidates"]):
        raise UserError(f"candidates {candidates_dir}: no candidate has a model to evaluate")
    models = evaluation_models(bilinear, candidates_dir, index)
    cfg = EvalConfig(models=tuple(f"{k}={v}" for k, v in models.items()), data=str(data), batch_size=batch_size,
                     rounds=rounds, split="test", extra_data=str(extra[1]) if extra else None)
    result = run(cfg)
    if extra:  # the report names the set the user gave, not the step's temporary folder
        result["extra_data"]["uri"] = extra[0]
    production = score_production(model_name, data, batch_size)
    production_iou = production["iou"] if production else None
    selection = select(judge(index, result, tolerable_iou_loss, min_speedup, production, min_extra_iou, min_iou),
                       result)
    shown = focus(selection, result)
    settings = {"model_name": model_name, "tolerable_iou_loss": tolerable_iou_loss, "min_speedup": min_speedup,
                "min_iou": min_iou, "min_extra_iou": min_extra_iou, "evaluation": result["config"],
                "train": _config_of(bilinear).get("train"),
                "swap": index["networks"].get("swapped", {}).get("settings", {}).get("swap"),
                "quantize": index["config"]}
    markdown = markdown_report(result, selection, production, settings)
    held = str(model_row(result, shown.row).get("precision", "int8")).upper()  # FP32 when nothing was quantized
    fp32_label, int8_label = f"{shown.network} FP32 ONNX", f"{shown.name} {held}"
    gallery = build_gallery(data, result["image_size"],
                            [("bilinear FP32", bilinear), (fp32_label, models[shown.fp32]),
                             (int8_label, models[shown.row])],
                            (fp32_label, int8_label), read_metrics(bilinear).get("history", []), extra=extra,
                            result=result)
    if report_json:
        write_json(report_json, {**result, "production": production, "winner": selection.winner,
                                 "candidates": [v.to_dict() for v in selection.verdicts],
                                 "gate": gate_summary(selection)})
    return EvalOutcome(result, selection, production, scalar_metrics(result, selection, production_iou), markdown,
                       gallery)


def gate_summary(selection: Selection) -> dict[str, Any]:
    """The report's ``gate``: whether anything deploys, which candidate, why, and the winner's checks."""
    checks = selection.verdict(selection.winner).decision.to_dict()["checks"] if selection.winner else {}
    return {"deploy": bool(selection.winner), "winner": selection.winner, "summary": selection.why, "checks": checks}


def _config_of(model_dir: str | Path) -> dict[str, Any]:
    """A saved model's config.json: the step settings it records make the report reproducible."""
    import json

    return json.loads((Path(model_dir) / "config.json").read_text())
