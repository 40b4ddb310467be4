"""The S3 endpoint a run gets from ``pipeline upload|submit|schedule``: given, or found in the cluster.

``--s3-endpoint`` wins. Else, with Kubernetes credentials (kubeconfig), the cluster is asked the way
KFP's launcher decides (``personseg.steps.object_store``). Without credentials nothing is
filled in: ``s3_endpoint`` stays empty and every step finds the store through DNS in its pod.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

from personseg.errors import UserError
from personseg.steps.object_store import KFP_NAMESPACE, Found, from_cluster
from personseg.storage.config import parse_endpoint

PARAM = "s3_endpoint"


def _kube_api() -> Any:
    from personseg.kube import KubeApi, connect

    return KubeApi(connect(), request_timeout=10)


def find_store(explicit: str | None, run_namespace: str | None, kfp_namespace: str = KFP_NAMESPACE,
               kube_api: Callable[[], Any] = _kube_api) -> tuple[Found | None, str]:
    """(the endpoint or None, one line saying where it came from or why there is none)."""
    from personseg.kube import KubeError

    if explicit:
        parse_endpoint("--s3-endpoint", explicit)
        return Found(explicit, "--s3-endpoint"), f"{PARAM}: {explicit} (--s3-endpoint)"
    try:
        found = from_cluster(kube_api(), kfp_namespace, run_namespace)
    except KubeError as exc:
        return None, f"{PARAM}: left empty, the steps find the store in their pods (the cluster did not say: {exc})"
    except UserError as exc:
        return None, f"{PARAM}: left empty, the steps find the store in their pods ({exc})"
    if found is None:
        return None, (f"{PARAM}: left empty: no {KFP_NAMESPACE}/kfp-launcher providers and no Service seaweedfs or "
                      f"minio-service in namespace {kfp_namespace!r}; the steps look again in their pods "
                      "(give --s3-endpoint for another store)")
    return found, f"{PARAM}: {found.endpoint} (found: {found.how})"


def with_endpoint(params: dict[str, Any], found: Found | None) -> dict[str, Any]:
    """Run parameters with ``s3_endpoint`` filled in, unless ``--param`` already set it."""
    if found is None or PARAM in params:
        return params
    return {**params, PARAM: found.endpoint}


def package_with_endpoint(package: str | Path, found: Found | None, workdir: Path | None = None) -> Path:
    """``package``, or a copy whose ``s3_endpoint`` default is ``found`` (what ``upload`` registers)."""
    if found is None:
        return Path(package)
    docs = [d for d in yaml.safe_load_all(Path(package).read_text()) if d is not None]
    try:
        docs[0]["root"]["inputDefinitions"]["parameters"][PARAM]["defaultValue"] = found.endpoint
    except (KeyError, TypeError, IndexError):
        raise UserError(f"--package {package}: the pipeline has no {PARAM} parameter") from None
    out = Path(workdir or tempfile.mkdtemp(prefix="personseg-package-")) / Path(package).name
    out.write_text(yaml.safe_dump_all(docs, sort_keys=False))
    return out
