"""What the serving container is: the same server, settings and hardening as the Kubernetes pod.

The container shares the host's network and its server binds 127.0.0.1 on a port of its own, so it is
reachable from this machine only, and it reaches an S3 server listening on the host's loopback (the local
storage server) at the address the host uses. Host networking works alike on Docker and podman (Linux);
a published port (``-p 127.0.0.1:P:8080``) would not let the server reach a loopback-only S3 server.
Like the pod (``personseg.deploy.objects``): user 1000, read-only root, scratch on tmpfs, no
capabilities, CPU and memory limits; the model is pulled from S3 at start with credentials taken
from this process's environment (as the pod takes them from its Secret), never from code.
"""

from __future__ import annotations

import os
import re
from typing import Any

from personseg.deploy.config import DeployConfig, cpu_cores
from personseg.deploy.objects import CACHE_DIR, SHUTDOWN_TIMEOUT_S, USER_ID
from personseg.errors import UserError
from personseg.storage.config import ACCESS_VARS, BUCKET_VAR, ENDPOINT_VARS, REGION_VARS, SECRET_VARS, SECURE_VAR

LABEL_DEPLOYMENT = "personseg.io/deployment"
LABEL_MODEL = "personseg.io/model-uri"
STOP_GRACE_S = SHUTDOWN_TIMEOUT_S + 5  # in-flight requests finish before the engine's SIGKILL
# Everything the server needs to reach the registry, read from this environment when set.
STORAGE_VARS = (*ENDPOINT_VARS, *ACCESS_VARS, *SECRET_VARS, *REGION_VARS, SECURE_VAR, BUCKET_VAR)
QUANTITY = re.compile(r"(\d+)(Ki|Mi|Gi|k|M|G)?")
UNITS = {None: 1, "k": 1000, "M": 1000**2, "G": 1000**3, "Ki": 1024, "Mi": 1024**2, "Gi": 1024**3}


def container_name(cfg: DeployConfig, port: int) -> str:
    """One name per started server: a redeploy's new container stands beside the old one."""
    return f"personseg-{cfg.name}-{port}"


def memory_bytes(quantity: str) -> int:
    """A Kubernetes memory quantity (``1536Mi``, ``2Gi``, ``512M``) in bytes."""
    match = QUANTITY.fullmatch(str(quantity))
    if not match:
        raise UserError(f"memory quantity {quantity!r}: expected bytes like '1536Mi', '2Gi' or '512M'")
    return int(match.group(1)) * UNITS[match.group(2)]


def server_environment(cfg: DeployConfig, model_uri: str, port: int,
                       env: dict[str, str] | None = None) -> dict[str, str]:
    """The server's environment: the pod's settings, a loopback port, the storage variables of ``env``."""
    source = os.environ if env is None else env
    values = {
        "PERSONSEG_MODEL_URI": model_uri,
        "PERSONSEG_HOST": "127.0.0.1",
        "PORT": str(port),
        "PERSONSEG_METRICS_PORT": "0",  # /metrics on the serving port: two versions side by side need no third port
        "PERSONSEG_THREADS": str(cfg.threads),
        "PERSONSEG_CACHE": CACHE_DIR,
        "TMPDIR": "/tmp",
        **{var: source[var] for var in STORAGE_VARS if source.get(var)},
    }
    if cfg.card_sha256:
        values["PERSONSEG_CARD_SHA256"] = cfg.card_sha256
    return values


def run_options(cfg: DeployConfig, model_uri: str, port: int) -> dict[str, Any]:
    """Keyword arguments of ``docker.DockerClient.containers.run`` for the server of ``model_uri``."""
    return {
        "image": cfg.image,
        "name": container_name(cfg, port),
        "detach": True,
        "environment": server_environment(cfg, model_uri, port),
        "user": f"{USER_ID}:{USER_ID}",
        "network_mode": "host",
        "read_only": True,
        "tmpfs": {"/tmp": "size=256m,mode=1777", CACHE_DIR: "size=2g,mode=1777"},
        "cap_drop": ["ALL"],
        "security_opt": ["no-new-privileges"],
        "mem_limit": memory_bytes(cfg.memory_limit),
        "nano_cpus": int(cpu_cores(cfg.cpu_limit) * 1e9),
        "stop_signal": "SIGTERM",
        "labels": {LABEL_DEPLOYMENT: cfg.name, LABEL_MODEL: model_uri, "app.kubernetes.io/part-of": "personseg"},
    }
