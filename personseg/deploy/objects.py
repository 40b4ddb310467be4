"""The Kubernetes objects for one model version: Deployment, Service, HPA and ServiceAccount.

``manifests/base`` holds the same objects as YAML for people who deploy with ``kubectl apply -k``;
a test builds it with kustomize and checks it equals what this module renders, so the two never drift.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from personseg.deploy.config import DeployConfig

MODEL_ANNOTATION = "personseg.io/model-uri"
TEMPLATE_HASH = "personseg.io/template-hash"
CACHE_DIR = "/var/cache/personseg"
READY_PATH = "/v2/health/ready"
LIVE_PATH = "/v2/health/live"
SERVICE_PORT = 80
PORT_NAME = "http"
# /metrics is served on a port of its own that no Service exposes (as KServe's runtimes do,
# ``prometheus.kserve.io/port``); Prometheus scrapes the pods on it.
METRICS_PORT = 9090
METRICS_PORT_NAME = "metrics"
# SIGTERM comes only after preStop: meanwhile kube-proxy and ingresses drop the terminating pod's
# endpoint, which happens concurrently with termination (kubernetes.io, "Termination of Pods"). An exec
# sleep rather than the ``sleep`` action, which needs Kubernetes 1.30 (KEP-3960: alpha 1.29, beta 1.30).
PRESTOP_SLEEP_S = 5
SHUTDOWN_TIMEOUT_S = 25  # the server's PERSONSEG_SHUTDOWN_TIMEOUT_S default: in-flight requests finish
GRACE_PERIOD_S = PRESTOP_SLEEP_S + SHUTDOWN_TIMEOUT_S + 10  # before the kubelet's SIGKILL
USER_ID = 1000


def labels(cfg: DeployConfig) -> dict[str, str]:
    """Labels on every object; the first two also select the pods."""
    return {
        "app.kubernetes.io/name": "personseg",
        "app.kubernetes.io/instance": cfg.name,
        "app.kubernetes.io/component": "serving",
        "app.kubernetes.io/part-of": "personseg",
    }


def selector(cfg: DeployConfig) -> dict[str, str]:
    """The immutable pod selector: name and instance only, so relabelling never orphans pods."""
    return {k: v for k, v in labels(cfg).items() if k in ("app.kubernetes.io/name", "app.kubernetes.io/instance")}


def metadata(cfg: DeployConfig, name: str | None = None) -> dict[str, Any]:
    """Object metadata in the target namespace."""
    return {"name": name or cfg.name, "namespace": cfg.namespace, "labels": labels(cfg)}


def container_env(cfg: DeployConfig, model_uri: str) -> list[dict[str, Any]]:
    """The server's environment: model, port, threads, cache and S3 credentials by Secret reference."""
    return [
        {"name": "PERSONSEG_MODEL_URI", "value": model_uri},
        {"name": "PERSONSEG_HOST", "value": "0.0.0.0"},
        {"name": "PORT", "value": str(cfg.port)},
        {"name": "PERSONSEG_METRICS_PORT", "value": str(METRICS_PORT)},
        {"name": "PERSONSEG_THREADS", "value": str(cfg.threads)},
        {"name": "PERSONSEG_CACHE", "value": CACHE_DIR},
        {"name": "TMPDIR", "value": "/tmp"},
        {"name": "MINIO_ENDPOINT", "value": cfg.s3.endpoint},
        {"name": "MINIO_SECURE", "value": "true" if cfg.s3.secure else "false"},
        *cfg.s3.key_env(),
    ] + ([{"name": "PERSONSEG_CARD_SHA256", "value": cfg.card_sha256}] if cfg.card_sha256 else [])


def probes(cfg: DeployConfig) -> dict[str, Any]:
    """Startup gives loading (S3 pull + warm-up) up to 5 minutes; readiness gates traffic on warm-up."""
    def http(path: str, period: int, failures: int) -> dict[str, Any]:
        return {
            "httpGet": {"path": path, "port": PORT_NAME},
            "periodSeconds": period,
            "timeoutSeconds": 2,
            "failureThreshold": failures,
        }

    return {
        "startupProbe": http(LIVE_PATH, 5, 60),
        "readinessProbe": http(READY_PATH, 5, 3),
        "livenessProbe": http(LIVE_PATH, 10, 3),
    }


def server_container(cfg: DeployConfig, model_uri: str, name: str = "server") -> dict[str, Any]:
    """The serving container: non-root, read-only root, writable /tmp and cache on emptyDirs."""
    return {
        "name": name,
        "image": cfg.image,
        "imagePullPolicy": "IfNotPresent",
        "ports": [{"name": PORT_NAME, "containerPort": cfg.port, "protocol": "TCP"},
                  {"name": METRICS_PORT_NAME, "containerPort": METRICS_PORT, "protocol": "TCP"}],
        "env": container_env(cfg, model_uri),
        "resources": {
            "requests": {"cpu": cfg.cpu_request, "memory": cfg.memory_request},
            "limits": {"cpu": cfg.cpu_limit, "memory": cfg.memory_limit},
        },
        **probes(cfg),
        "lifecycle": {"preStop": {"exec": {"command": ["sleep", str(PRESTOP_SLEEP_S)]}}},
        "securityContext": {
            "allowPrivilegeEscalation": False,
            "readOnlyRootFilesystem": True,
            "capabilities": {"drop": ["ALL"]},
        },
        "volumeMounts": [{"name": "tmp", "mountPath": "/tmp"}, {"name": "cache", "mountPath": CACHE_DIR}],
        # a crash's last log lines become the pod's termination message: the rollout reads why it failed
        "terminationMessagePolicy": "FallbackToLogsOnError",
    }


def pod_security() -> dict[str, Any]:
    """Pod-level security: a fixed non-root user and the runtime's default seccomp profile."""
    return {
        "runAsNonRoot": True,
        "runAsUser": USER_ID,
        "runAsGroup": USER_ID,
        "fsGroup": USER_ID,
        "seccompProfile": {"type": "RuntimeDefault"},
    }


def volumes() -> list[dict[str, Any]]:
    """Scratch space: the root filesystem is read-only."""
    return [
        {"name": "tmp", "emptyDir": {"sizeLimit": "256Mi"}},
        {"name": "cache", "emptyDir": {"sizeLimit": "2Gi"}},
    ]


def scrape_annotations(cfg: DeployConfig) -> dict[str, str]:
    """Prometheus discovery: scrape /metrics on the metrics port."""
    return {"prometheus.io/scrape": "true", "prometheus.io/port": str(METRICS_PORT), "prometheus.io/path": "/metrics"}


def template_hash(template: dict[str, Any]) -> str:
    """A short stable hash of a pod template: marks which pods belong to this rollout."""
    return hashlib.sha256(json.dumps(template, sort_keys=True).encode()).hexdigest()[:16]


def deployment(cfg: DeployConfig, model_uri: str) -> dict[str, Any]:
    """The Deployment; ``replicas`` is left to the HPA so applying never fights the autoscaler."""
    template: dict[str, Any] = {
        "metadata": {"labels": labels(cfg), "annotations": {**scrape_annotations(cfg), MODEL_ANNOTATION: model_uri}},
        "spec": {
            "serviceAccountName": cfg.name,
            "automountServiceAccountToken": False,
            "securityContext": pod_security(),
            "terminationGracePeriodSeconds": GRACE_PERIOD_S,
            "containers": [server_container(cfg, model_uri)],
            "volumes": volumes(),
        },
    }
    template["metadata"]["annotations"][TEMPLATE_HASH] = template_hash(template)
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {**metadata(cfg), "annotations": {MODEL_ANNOTATION: model_uri}},
        "spec": {
            "revisionHistoryLimit": 5,
            "progressDeadlineSeconds": 600,
            "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0}},
            "selector": {"matchLabels": selector(cfg)},
            "template": template,
        },
    }


def service(cfg: DeployConfig) -> dict[str, Any]:
    """A ClusterIP Service on port 80 in front of the pods."""
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": metadata(cfg),
        "spec": {
            "type": "ClusterIP",
            "selector": selector(cfg),
            "ports": [{"name": PORT_NAME, "port": SERVICE_PORT, "targetPort": PORT_NAME, "protocol": "TCP"}],
        },
    }


def autoscaler(cfg: DeployConfig) -> dict[str, Any]:
    """CPU-based HPA (autoscaling/v2) with a slow scale-down so bursts do not flap the replica count."""
    return {
        "apiVersion": "autoscaling/v2",
        "kind": "HorizontalPodAutoscaler",
        "metadata": metadata(cfg),
        "spec": {
            "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": cfg.name},
            "minReplicas": cfg.min_replicas,
            "maxReplicas": cfg.max_replicas,
            "metrics": [
                {
                    "type": "Resource",
                    "resource": {
                        "name": "cpu",
                        "target": {"type": "Utilization", "averageUtilization": cfg.cpu_target_percent},
                    },
                }
            ],
            "behavior": {"scaleDown": {"stabilizationWindowSeconds": 300}},
        },
    }


def service_account(cfg: DeployConfig) -> dict[str, Any]:
    """The pods' identity; they need no API access, so no token is mounted."""
    return {
        "apiVersion": "v1",
        "kind": "ServiceAccount",
        "metadata": metadata(cfg),
        "automountServiceAccountToken": False,
    }


def render_kubernetes(cfg: DeployConfig, model_uri: str) -> list[dict[str, Any]]:
    """All objects in apply order: identity first, then the workload, then what points at it."""
    return [service_account(cfg), deployment(cfg, model_uri), service(cfg), autoscaler(cfg)]


def to_yaml(objects: list[dict[str, Any]]) -> str:
    """A multi-document YAML stream, as ``kubectl apply -f -`` takes it."""
    import yaml

    return "".join("---\n" + yaml.safe_dump(obj, sort_keys=False, default_flow_style=False) for obj in objects)
