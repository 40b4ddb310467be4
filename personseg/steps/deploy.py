"""The pipeline's deploy step: publish the winning candidate's model to the registry, then deploy that version.

Publishing first means the cluster (or the local server) loads a pinned ``models:/NAME:V`` whose
files are sha256-verified, and a good rollout promotes exactly that version to production.
"""

from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path
from typing import Any

from personseg.errors import UserError
from personseg.serving.smoke_probe import card_entry
from personseg.steps.gate import model_row
from personseg.storage.access import S3Access
from personseg.storage.refs import ModelRef


def card_from_evaluation(path: str | Path, winner: str) -> dict[str, Any]:
    """Model-card fields recording why this version shipped: which candidate won, its gate and figures.

    ``winner`` is the name the evaluate step returned; the report must name the same passing candidate,
    so a miswired run can never publish a model the gate did not pick.
    """
    try:
        report = json.loads(Path(path).read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise UserError(f"evaluation report {path}: unreadable ({exc})") from None
    if "gate" not in report or "candidates" not in report:
        raise UserError(f"evaluation report {path}: has no 'gate' and 'candidates' (not written by the pipeline's "
                        "evaluate step)")
    if not winner or report.get("winner") != winner:
        raise UserError(f"evaluation report {path}: its winner is {report.get('winner')!r}, not {winner!r}; "
                        "only the candidate the gate picked is deployed")
    cand = next(c for c in report["candidates"] if c["name"] == winner)
    if not cand["passed"]:
        raise UserError(f"evaluation report {path}: candidate {winner!r} did not pass the gate")
    row = model_row(report, cand["model"])
    return {"gate": cand["gate"], "selection": report["gate"]["summary"],
            "candidate": {k: cand[k] for k in ("name", "network", "runtime")},
            "evaluation": {"iou": row["iou"], "speedup": row["speedup"], "baseline": report["baseline"],
                           "images_per_s": row["images_per_s"], "latency_ms": row["latency_ms"],
                           "image_size": report["image_size"], "data": report["data"]}}


def serving_config(model: str, target: str, name: str, namespace: str, s3: S3Access | None = None,
                   serving: dict[str, Any] | None = None) -> Any:
    """The ``DeployConfig`` of one pipeline deploy: its endpoint, Secret and sizing, not the defaults.

    ``s3`` is how the serving pods reach the registry (default: ``DeployConfig``'s); its empty endpoint
    means the step's own (``MINIO_ENDPOINT``/``AWS_ENDPOINT_URL``), so the pods read the registry the
    step just published to. ``serving`` holds the other ``DeployConfig`` fields (``min_replicas``,
    ``cpu_limit``, ...).
    """
    from personseg.deploy.config import DEFAULT_S3, DeployConfig
    from personseg.storage.config import ENDPOINT_VARS, parse_endpoint

    fields = dict(serving or {})
    unknown = sorted(set(fields) - (set(DeployConfig.__dataclass_fields__) - {"s3"}))
    if unknown:
        raise UserError(f"serving settings: unknown field(s) {', '.join(unknown)}")
    access = s3 or dataclasses.replace(DEFAULT_S3, endpoint="")
    raw = access.endpoint.strip() or next((os.environ[v] for v in ENDPOINT_VARS if os.environ.get(v)), "")
    if raw:
        host, secure = parse_endpoint("s3_endpoint", raw)
        access = dataclasses.replace(access, endpoint=host, secure=bool(secure))
    else:
        access = dataclasses.replace(access, endpoint=DEFAULT_S3.endpoint, secure=DEFAULT_S3.secure)
    return DeployConfig(model=model, target=target, name=name, namespace=namespace, s3=access, **fields)


def publish_and_deploy(model_dir: str | Path, model_name: str, target: str, namespace: str,
                       card: dict[str, Any] | None = None, s3: S3Access | None = None,
                       serving: dict[str, Any] | None = None, **run_options: Any) -> dict[str, Any]:
    """Publish ``model_dir`` as the next version of ``model_name`` and deploy it to ``target``.

    ``run_options`` go to ``personseg.deploy.step.run`` (tests pass a stand-in Kubernetes API there).
    """
    from personseg.deploy.step import run
    from personseg.storage.registry import Registry

    # the config first: a bad target, name or sizing is refused before a version is published and promoted
    unpinned = serving_config(str(ModelRef(model_name)), target, model_name, namespace, s3, serving)
    registry = Registry.from_env()
    version = registry.publish(Path(model_dir), model_name, card, smoke=card_entry(model_dir))
    registry.promote(model_name, version, "candidate")
    cfg = dataclasses.replace(unpinned, model=str(ModelRef(model_name, version=version)))
    result = run(cfg, **run_options).to_dict()
    return {**result, "version": version}
