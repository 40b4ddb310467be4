"""The pipeline's evaluate step: compare the models, score production, decide, write the reports.

One function, so the component stays a few lines and the whole step is testable without KFP.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from personseg.atomic import write_json
from personseg.modeldir import read_metrics
from personseg.pipeline_logic.gallery import build_gallery
from personseg.pipeline_logic.gate import GateDecision, decide
from personseg.pipeline_logic.production import score_production
from personseg.pipeline_logic.summary import markdown_report, scalar_metrics


@dataclass(frozen=True)
class EvalOutcome:
    """Everything the UI shows, plus the decision the ``dsl.If`` reads."""

    result: dict[str, Any]
    decision: GateDecision
    production: dict[str, Any] | None
    metrics: dict[str, float]
    markdown: str
    gallery: str


def evaluate_candidates(data: str | Path, bilinear: str | Path, swapped: str | Path, onnx_fp32: str | Path,
                        int8: str | Path, model_name: str, tolerable_iou_loss: float, min_speedup: float,
                        rounds: int = 10, batch_size: int = 8, report_json: str | Path | None = None,
                        extra: tuple[str, str | Path] | None = None, min_extra_iou: float = 0.0) -> EvalOutcome:
    """Evaluate the four models side by side on the test split (and ``extra``), and apply the deploy gate.

    ``extra`` is (name, folder) of a second evaluation set, scored whole for quality.
    """
    from personseg.evaluate.step import EvalConfig, run

    models = {"bilinear": bilinear, "swapped": swapped, "onnx-fp32": onnx_fp32, "int8": int8}
    cfg = EvalConfig(models=tuple(f"{k}={v}" for k, v in models.items()), data=str(data), batch_size=batch_size,
                     rounds=rounds, split="test", extra_data=str(extra[1]) if extra else None)
    result = run(cfg)
    if extra:  # the report names the set the user gave, not the step's temporary folder
        result["extra_data"]["uri"] = extra[0]
    production = score_production(model_name, data, batch_size)
    decision = decide(result, tolerable_iou_loss, min_speedup, production["iou"] if production else None,
                      min_extra_iou=min_extra_iou)
    settings = {"model_name": model_name, "tolerable_iou_loss": tolerable_iou_loss, "min_speedup": min_speedup,
                "min_extra_iou": min_extra_iou,
                "evaluation": result["config"], "train": _config_of(bilinear).get("train"),
                "swap": _config_of(swapped).get("swap"),
                "quantize": _config_of(int8).get("quantization", {}).get("config")}
    markdown = markdown_report(result, decision, production, settings)
    history = read_metrics(bilinear).get("history", [])
    gallery = build_gallery(data, result["image_size"],
                            [("bilinear FP32", bilinear), ("swapped FP32", onnx_fp32), ("INT8", int8)],
                            ("swapped FP32", "INT8"), history, extra=extra, result=result)
    if report_json:
        write_json(report_json, {**result, "gate": decision.to_dict(), "production": production})
    return EvalOutcome(result, decision, production, scalar_metrics(result, decision, production and
                                                                    production["iou"]), markdown, gallery)


def _config_of(model_dir: str | Path) -> dict[str, Any]:
    """A saved model's config.json: the step settings it records make the report reproducible."""
    import json

    return json.loads((Path(model_dir) / "config.json").read_text())
