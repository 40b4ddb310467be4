"""The current production model, scored on this run's held-out images, for the gate's last check."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from personseg.steps.storage_env import storage_configured
from personseg.storage.refs import ModelRef

log = logging.getLogger(__name__)


def production_ref(model_name: str) -> str | None:
    """``models:/NAME:V`` of the version ``NAME@production`` points at, or None if there is none.

    With no S3 endpoint configured there is no registry, hence no production model; registry
    errors (bad credentials, unreachable endpoint) are raised, never read as "no model".
    """
    if not storage_configured():
        log.info("no S3 endpoint configured: no registry, so no production model to beat")
        return None
    from personseg.storage.errors import MissingBucket
    from personseg.storage.registry import Registry

    registry = Registry.from_env()
    try:
        version = registry.stage(model_name, "production")
    except MissingBucket:  # nothing was ever published: an empty registry
        log.info("registry bucket %s does not exist yet: no production model", registry.bucket)
        return None
    return None if version is None else str(ModelRef(model_name, version=version))


def score_production(model_name: str, data: str | Path, batch_size: int = 8) -> dict[str, Any] | None:
    """``{"ref", "iou", "per_image_iou", "ids"}`` of the production model on ``data``'s test split, or None."""
    ref = production_ref(model_name)
    if ref is None:
        return None
    from personseg.evaluate.step import EvalConfig, run

    result = run(EvalConfig(models=(f"production={ref}",), data=str(data), batch_size=batch_size, rounds=1,
                            warmup=0, split="test", measure_peak=False))
    row = result["models"][0]
    return {"ref": ref, "iou": float(row["iou"]), "per_image_iou": row["per_image_iou"], "ids": result["data"]["ids"]}
