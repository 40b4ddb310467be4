"""The pipeline's deploy step: publish the INT8 model to the registry, then deploy that version.

Publishing first means the cluster (or the local server) loads a pinned ``models:/NAME:V`` whose
files are sha256-verified, and a good rollout promotes exactly that version to production.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
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


@dataclass(frozen=True)
class ServingSettings:
    """What the pipeline's parameters say about the served Deployment (the pipeline owns these fields)."""

    s3_endpoint: str = ""
    s3_secret: str = "mlpipeline-minio-artifact"
    access_key_field: str = "accesskey"
    secret_key_field: str = "secretkey"
    min_replicas: int = 1
    max_replicas: int = 4
    cpu_request: str = "1"
    cpu_limit: str = "2"
    memory_request: str = "768Mi"
    memory_limit: str = "1536Mi"


def serving_config(model: str, target: str, name: str, namespace: str, settings: ServingSettings) -> Any:
    """The ``DeployConfig`` of one pipeline deploy: its endpoint, Secret and sizing, not the defaults.

    An empty ``s3_endpoint`` means the step's own (``MINIO_ENDPOINT``/``AWS_ENDPOINT_URL``), so the
    pods read the registry the step just published to.
    """
    from personseg.deploy import DeployConfig
    from personseg.storage.config import ENDPOINT_VARS, parse_endpoint

    raw = settings.s3_endpoint.strip() or next((os.environ[v] for v in ENDPOINT_VARS if os.environ.get(v)), "")
    s3: dict[str, Any] = {}
    if raw:
        host, secure = parse_endpoint("s3_endpoint", raw)
        s3 = {"s3_endpoint": host, "s3_secure": bool(secure)}
    return DeployConfig(model=model, target=target, name=name, namespace=namespace, s3_secret=settings.s3_secret,
                        s3_access_key_field=settings.access_key_field, s3_secret_key_field=settings.secret_key_field,
                        min_replicas=settings.min_replicas, max_replicas=settings.max_replicas,
                        cpu_request=settings.cpu_request, cpu_limit=settings.cpu_limit,
                        memory_request=settings.memory_request, memory_limit=settings.memory_limit, **s3)


def publish_and_deploy(model_dir: str | Path, model_name: str, target: str, namespace: str,
                       card: dict[str, Any] | None = None, settings: ServingSettings | None = None,
                       **run_options: Any) -> dict[str, Any]:
    """Publish ``model_dir`` as the next version of ``model_name`` and deploy it to ``target``.

    ``run_options`` go to ``personseg.deploy.run`` (tests pass a stand-in Kubernetes API there).
    """
    from personseg.deploy import run
    from personseg.storage.registry import Registry

    registry = Registry.from_env()
    version = registry.publish(Path(model_dir), model_name, card)
    registry.promote(model_name, version, "candidate")
    cfg = serving_config(f"models:/{model_name}:{version}", target, model_name, namespace,
                         settings or ServingSettings())
    result = run(cfg, **run_options).to_dict()
    return {**result, "version": version}
