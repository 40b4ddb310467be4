"""The pipeline's deploy step: publish the INT8 model to the registry, then deploy that version.

Publishing first means the cluster (or the local server) loads a pinned ``models:/NAME:V`` whose
files are sha256-verified, and a good rollout promotes exactly that version to production.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from personseg.errors import UserError
from personseg.pipeline_logic.gate import model_row


def card_from_evaluation(path: str | Path) -> dict[str, Any]:
    """Model-card fields recording why this version shipped: the gate and the INT8 figures."""
    try:
        report = json.loads(Path(path).read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise UserError(f"evaluation report {path}: unreadable ({exc})") from None
    if "gate" not in report:
        raise UserError(f"evaluation report {path}: has no 'gate' (not written by the pipeline's evaluate step)")
    int8 = model_row(report, "int8")
    return {"gate": report["gate"], "evaluation": {
        "iou": int8["iou"], "speedup": int8["speedup"], "baseline": report["baseline"],
        "latency_ms": int8["latency_ms"], "image_size": report["image_size"], "data": report["data"]}}


def publish_and_deploy(model_dir: str | Path, model_name: str, target: str, namespace: str,
                       card: dict[str, Any] | None = None) -> dict[str, Any]:
    """Publish ``model_dir`` as the next version of ``model_name`` and deploy it to ``target``."""
    from personseg.deploy import DeployConfig, run
    from personseg.storage.registry import Registry

    registry = Registry.from_env()
    version = registry.publish(Path(model_dir), model_name, card)
    registry.promote(model_name, version, "candidate")
    cfg = DeployConfig(model=f"models:/{model_name}:{version}", target=target, name=model_name,
                       namespace=namespace)
    result = run(cfg).to_dict()
    return {**result, "version": version}
