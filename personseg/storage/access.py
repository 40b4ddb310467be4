"""How a pod reaches S3: the endpoint, and the Kubernetes Secret whose two fields hold the keys.

One value for what used to travel as four loose arguments (endpoint, Secret name, access-key field,
secret-key field) through the train and deploy steps. Only names travel: the keys stay in the Secret
and reach a pod's environment by reference (``key_env``), never through code, arguments or reports.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from personseg.storage.config import ACCESS_VARS, SECRET_VARS


@dataclass(frozen=True)
class S3Access:
    """The S3 endpoint a pod uses and the Secret (``secret``) its keys come from, field by field."""

    endpoint: str = ""
    secret: str = ""
    access_key_field: str = "accesskey"
    secret_key_field: str = "secretkey"
    secure: bool = False  # the endpoint speaks TLS (the serving pods read it as MINIO_SECURE)

    def key_env(self) -> list[dict[str, Any]]:
        """The access and secret key variables, each a ``secretKeyRef`` into ``secret``."""
        return [_from_secret(ACCESS_VARS[0], self.secret, self.access_key_field),
                _from_secret(SECRET_VARS[0], self.secret, self.secret_key_field)]


def _from_secret(var: str, secret: str, key: str) -> dict[str, Any]:
    return {"name": var, "valueFrom": {"secretKeyRef": {"name": secret, "key": key}}}
