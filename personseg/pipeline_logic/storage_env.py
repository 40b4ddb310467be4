"""Point the storage layer at the pipeline's S3 endpoint.

In a cluster the keys come from the ``mlpipeline-minio-artifact`` Secret (``use_secret_as_env``)
and the endpoint from the ``s3_endpoint`` pipeline parameter; a local run passes its own server.
"""

from __future__ import annotations

import os

from personseg.storage.config import ENDPOINT_VARS, parse_endpoint

ENDPOINT_VAR = ENDPOINT_VARS[0]


def use_endpoint(endpoint: str) -> None:
    """Set ``MINIO_ENDPOINT`` to ``endpoint`` (validated); an empty value keeps the environment's."""
    endpoint = endpoint.strip()
    if endpoint:
        parse_endpoint("s3_endpoint", endpoint)
        os.environ[ENDPOINT_VAR] = endpoint


def storage_configured() -> bool:
    """True when an S3 endpoint is set, i.e. a registry can exist at all."""
    return any(os.environ.get(name, "").strip() for name in ENDPOINT_VARS)
