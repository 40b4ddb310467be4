"""Point the storage layer at the pipeline's S3 endpoint.

In a cluster the keys come from the ``mlpipeline-minio-artifact`` Secret (``use_secret_as_env``)
and the endpoint from the ``s3_endpoint`` pipeline parameter, or, when it is empty, from the KFP
store Service DNS knows (``object_store.in_pod``); a local run passes its own server.
"""

from __future__ import annotations

import logging
import os

from personseg.steps.object_store import in_pod
from personseg.storage.config import ENDPOINT_VARS, parse_endpoint

log = logging.getLogger(__name__)

ENDPOINT_VAR = ENDPOINT_VARS[0]


def use_endpoint(endpoint: str) -> None:
    """Set ``MINIO_ENDPOINT`` to ``endpoint`` (validated).

    Empty keeps the environment's; with none there, a pod in a cluster finds KFP's store.
    """
    endpoint = endpoint.strip()
    if not endpoint and not storage_configured():
        found = in_pod()
        if found is not None:
            log.info("s3_endpoint %s (found by %s)", found.endpoint, found.how)
            endpoint = found.endpoint
    if endpoint:
        parse_endpoint("s3_endpoint", endpoint)
        os.environ[ENDPOINT_VAR] = endpoint


def storage_configured() -> bool:
    """True when an S3 endpoint is set, i.e. a registry can exist at all."""
    return any(os.environ.get(name, "").strip() for name in ENDPOINT_VARS)
