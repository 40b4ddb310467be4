"""Find the S3 endpoint of the object store a Kubeflow Pipelines install uses, the way KFP finds it.

KFP's manifests ship MinIO (Service ``minio-service``, port 9000) up to 2.14, SeaweedFS from 2.15
(Service ``seaweedfs``: S3 on 8333 and on 9000, which maps to 8333; 2.15 keeps a ``minio-service``
alias, 2.16 drops it), kubeflow/pipelines ``manifests/kustomize/third-party/{minio,seaweedfs}``.
KFP's launcher takes the endpoint from the ``providers`` of the ``kfp-launcher`` ConfigMap in the
run's namespace when one is set (``backend/src/v2/config/env.go``, ``minio.go``/``s3.go``), else its
built-in default: ``minio-service`` in its own namespace or ``minio-service.kubeflow:9000`` up to
2.15, ``seaweedfs.kubeflow:9000`` from 2.16 (``backend/src/v2/objectstore/config.go``).

Two places look: ``personseg pipeline upload|submit|schedule`` ask the Kubernetes API (launcher
ConfigMap, then the Services), and a step whose ``s3_endpoint`` is empty asks DNS which of the
Services exists (no API rights needed in the pod).
"""

from __future__ import annotations

import socket
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from personseg.errors import UserError

KFP_NAMESPACE = "kubeflow"
LAUNCHER_CONFIGMAP = "kfp-launcher"
# (Service, port) in the order a current install is likelier to have them.
STORE_SERVICES = (("seaweedfs", 9000), ("minio-service", 9000))
SERVICE_ACCOUNT_NAMESPACE = Path("/var/run/secrets/kubernetes.io/serviceaccount/namespace")


@dataclass(frozen=True)
class Found:
    """An endpoint (``http(s)://host:port``) and how it was found, for the user to read."""

    endpoint: str
    how: str


def launcher_endpoint(data: dict[str, str]) -> str | None:
    """The default S3 endpoint in a ``kfp-launcher`` ConfigMap's ``providers``, if it names one.

    Read as KFP's launcher reads it: ``providers.minio.default`` for ``minio://`` roots (the default
    ``defaultPipelineRoot``), ``providers.s3.default`` for ``s3://`` roots; ``disableSSL`` picks http.
    """
    try:
        providers = yaml.safe_load(data.get("providers") or "") or {}
    except yaml.YAMLError as exc:
        raise UserError(f"ConfigMap {LAUNCHER_CONFIGMAP}: 'providers' is not YAML ({exc})") from None
    root = str(data.get("defaultPipelineRoot") or "minio://")
    order = ("s3", "minio") if root.startswith("s3://") else ("minio", "s3")
    for name in order:
        default = ((providers.get(name) or {}) if isinstance(providers, dict) else {}).get("default") or {}
        endpoint = str(default.get("endpoint") or "").strip()
        if endpoint:
            if "://" in endpoint:
                return endpoint
            return f"{'http' if default.get('disableSSL') else 'https'}://{endpoint}"
    return None


def from_cluster(api: Any, kfp_namespace: str = KFP_NAMESPACE, run_namespace: str | None = None) -> Found | None:
    """Ask the Kubernetes API behind ``api`` (a ``KubeApi``); None when the install shows no store.

    The launcher ConfigMap of the namespace runs execute in (``run_namespace``, a profile under
    multi-user KFP, else ``kfp_namespace``) wins, as it does for KFP's launcher; then the Services.
    """
    where = run_namespace or kfp_namespace
    config = api.get("ConfigMap", where, LAUNCHER_CONFIGMAP)
    endpoint = launcher_endpoint((config or {}).get("data") or {}) if config else None
    if endpoint:
        return Found(endpoint, f"ConfigMap {where}/{LAUNCHER_CONFIGMAP} providers")
    for service, port in STORE_SERVICES:
        if api.get("Service", kfp_namespace, service) is not None:
            return Found(f"http://{service}.{kfp_namespace}:{port}", f"Service {kfp_namespace}/{service}")
    return None


def _resolves(host: str) -> bool:
    try:
        socket.getaddrinfo(host, None)
    except (socket.gaierror, UnicodeError):
        return False
    return True


def in_pod(resolves: Callable[[str], bool] | None = None, sa_file: Path | None = None) -> Found | None:
    """Inside a cluster: the first store Service DNS knows, in this pod's namespace then ``kubeflow``.

    None outside a cluster (no service-account namespace file), so local runs keep their own settings.
    """
    resolves, sa_file = resolves or _resolves, sa_file or SERVICE_ACCOUNT_NAMESPACE
    if not sa_file.is_file():
        return None
    own = sa_file.read_text().strip()
    for namespace in dict.fromkeys((own, KFP_NAMESPACE)):
        for service, port in STORE_SERVICES:
            if resolves(f"{service}.{namespace}.svc"):
                return Found(f"http://{service}.{namespace}:{port}", f"DNS {service}.{namespace}.svc")
    raise UserError(f"s3_endpoint is empty and no KFP object store Service ({', '.join(s for s, _ in STORE_SERVICES)})"
                    f" resolves in namespace {own!r} or {KFP_NAMESPACE!r}: set the s3_endpoint pipeline parameter")
