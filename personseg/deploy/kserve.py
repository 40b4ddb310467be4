"""The optional KServe variant: an InferenceService in raw deployment mode with the model on S3.

KServe's storage initializer downloads ``STORAGE_URI`` (an ``s3://`` prefix) into ``/mnt/models``
before our container starts, using the S3 Secret attached to the predictor's ServiceAccount (the
Secret carries the ``serving.kserve.io/s3-*`` endpoint annotations; ``manifests/kserve`` makes it).
Raw deployment mode gives a plain Deployment + Service + HPA, no Knative or Istio needed.
"""

from __future__ import annotations

from typing import Any

from personseg.deploy.config import DeployConfig
from personseg.deploy.objects import (
    GRACE_PERIOD_S,
    METRICS_PORT,
    METRICS_PORT_NAME,
    MODEL_ANNOTATION,
    labels,
    pod_security,
    scrape_annotations,
    server_container,
    volumes,
)

KSERVE_S3_SECRET = "personseg-kserve-s3"
MOUNT = "/mnt/models"
CONTAINER = "kserve-container"


def kserve_service_account_name(cfg: DeployConfig) -> str:
    """The predictor's ServiceAccount, which carries the S3 Secret for the storage initializer."""
    return f"{cfg.name}-kserve"


def predictor_service(cfg: DeployConfig) -> str:
    """The Service KServe creates in raw mode for the predictor."""
    return f"{cfg.name}-predictor"


def kserve_service_account(cfg: DeployConfig, s3_secret: str = KSERVE_S3_SECRET) -> dict[str, Any]:
    """ServiceAccount listing the annotated S3 Secret, the way KServe finds storage credentials."""
    return {
        "apiVersion": "v1",
        "kind": "ServiceAccount",
        "metadata": {"name": kserve_service_account_name(cfg), "namespace": cfg.namespace, "labels": labels(cfg)},
        "secrets": [{"name": s3_secret}],
    }


def inference_service(cfg: DeployConfig, storage_uri: str) -> dict[str, Any]:
    """The InferenceService: our serving image as a custom predictor fed from ``storage_uri``."""
    container = server_container(cfg, MOUNT, name=CONTAINER)
    env = [e for e in container["env"] if not e["name"].startswith("MINIO_")]
    container["env"] = [{"name": "STORAGE_URI", "value": storage_uri}, *env]
    # Only the serving port is declared: KServe derives the predictor's Service from the container's
    # ports. The server still listens on METRICS_PORT, which the annotations below point Prometheus to.
    container["ports"] = [p for p in container["ports"] if p["name"] != METRICS_PORT_NAME]
    return {
        "apiVersion": "serving.kserve.io/v1beta1",
        "kind": "InferenceService",
        "metadata": {
            "name": cfg.name,
            "namespace": cfg.namespace,
            "labels": labels(cfg),
            "annotations": {
                "serving.kserve.io/deploymentMode": "RawDeployment",
                "serving.kserve.io/autoscalerClass": "hpa",
                MODEL_ANNOTATION: storage_uri,
                **scrape_annotations(cfg),
                "prometheus.kserve.io/port": str(METRICS_PORT),
                "prometheus.kserve.io/path": "/metrics",
            },
        },
        "spec": {
            "predictor": {
                "serviceAccountName": kserve_service_account_name(cfg),
                "minReplicas": cfg.min_replicas,
                "maxReplicas": cfg.max_replicas,
                "scaleMetric": "cpu",
                "scaleTarget": cfg.cpu_target_percent,
                "securityContext": pod_security(),
                "terminationGracePeriodSeconds": GRACE_PERIOD_S,
                "containers": [container],
                "volumes": volumes(),
            }
        },
    }


def render_kserve(cfg: DeployConfig, storage_uri: str) -> list[dict[str, Any]]:
    """ServiceAccount then InferenceService, in apply order."""
    return [kserve_service_account(cfg), inference_service(cfg, storage_uri)]
