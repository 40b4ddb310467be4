"""What one deployment is: a frozen config printed into every deploy report so it can be redone."""

from __future__ import annotations

import math
import os
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from personseg.errors import UserError
from personseg.image_refs import serving_image
from personseg.storage.access import S3Access

TARGETS = ("kubernetes", "kserve", "local", "container")
NAMESPACE_ENV = "PERSONSEG_NAMESPACE"
IN_CLUSTER_NAMESPACE = Path("/var/run/secrets/kubernetes.io/serviceaccount/namespace")
DNS_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?")
CPU = re.compile(r"(\d+(?:\.\d+)?)(m?)")


# The serving pods' S3 keys: read-only on the model bucket, never Kubeflow's root key
# (docs/kubeflow.md, "A read-only key for the serving pods", creates it on SeaweedFS or MinIO).
SERVING_SECRET = "personseg-models-reader"
# Where the pods find S3 by default: the store of KFP 2.15+ (MinIO up to 2.14: minio-service.kubeflow:9000).
DEFAULT_S3 = S3Access("seaweedfs.kubeflow:9000", SERVING_SECRET)


@dataclass(frozen=True)
class DeployConfig:
    """Everything the renderers and the rollout need; defaults match ``manifests/base``.

    ``threads`` is derived from ``cpu_limit`` (see ``threads``) so ONNX Runtime never runs more
    threads than the CPU quota allows, which would make it slower, not faster.
    """

    model: str
    target: str = "kubernetes"
    name: str = "personseg"
    namespace: str = "personseg"
    image: str = field(default_factory=serving_image)
    min_replicas: int = 1
    max_replicas: int = 4
    cpu_target_percent: int = 70
    cpu_request: str = "1"
    cpu_limit: str = "2"
    memory_request: str = "768Mi"
    memory_limit: str = "1536Mi"
    port: int = 8080
    s3: S3Access = DEFAULT_S3
    timeout: float = 300.0
    field_manager: str = "personseg-deploy"
    # Set by ``run`` from the registry, not by users: the model card's digest the server must find.
    card_sha256: str = ""

    def __post_init__(self) -> None:
        """Reject values the API server would reject later, naming the field."""
        if self.target not in TARGETS:
            raise UserError(f"--target {self.target!r}: expected one of {', '.join(TARGETS)}")
        for label, value in (("name", self.name), ("namespace", self.namespace)):
            if not DNS_LABEL.fullmatch(value):
                raise UserError(f"{label} {value!r}: must be a DNS label (lowercase letters, digits, '-')")
        if not 1 <= self.min_replicas <= self.max_replicas:
            raise UserError(f"replicas: need 1 <= min ({self.min_replicas}) <= max ({self.max_replicas})")
        if self.timeout <= 0:
            raise UserError(f"--timeout {self.timeout}: must be positive")
        if not self.image or any(c.isspace() for c in self.image):
            raise UserError(f"--image {self.image!r}: not an image reference")
        cpu_cores(self.cpu_request)
        cpu_cores(self.cpu_limit)

    @property
    def threads(self) -> int:
        """Inference threads: whole cores of the CPU limit, at least one."""
        return max(1, math.floor(cpu_cores(self.cpu_limit)))

    def to_dict(self) -> dict[str, Any]:
        """Plain data for reports (no credentials live here: only the Secret's name)."""
        return {**asdict(self), "threads": self.threads}


def cpu_cores(quantity: str) -> float:
    """A Kubernetes CPU quantity (``2``, ``1.5``, ``500m``) in cores."""
    match = CPU.fullmatch(str(quantity))
    if not match:
        raise UserError(f"CPU quantity {quantity!r}: expected cores like '2', '1.5' or '500m'")
    value = float(match.group(1))
    return value / 1000 if match.group(2) else value


def default_namespace() -> str:
    """``PERSONSEG_NAMESPACE``, else the pod's own namespace when running in a cluster, else ``personseg``."""
    env = os.environ.get(NAMESPACE_ENV)
    if env:
        return env
    if IN_CLUSTER_NAMESPACE.is_file():
        return IN_CLUSTER_NAMESPACE.read_text().strip() or "personseg"
    return "personseg"
