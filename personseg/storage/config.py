"""Where object storage is and how to sign in, read only from the environment.

The variable names match how Kubeflow mounts its ``mlpipeline-minio-artifact`` Secret and what the
AWS tools and KServe read, so the same Secret works for every step. Nothing here is ever logged:
the dataclass hides both keys from ``repr``.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from urllib.parse import urlsplit

from personseg.storage.errors import ConfigError

ENDPOINT_VARS = ("MINIO_ENDPOINT", "AWS_ENDPOINT_URL")
ACCESS_VARS = ("MINIO_ACCESS_KEY", "AWS_ACCESS_KEY_ID")
SECRET_VARS = ("MINIO_SECRET_KEY", "AWS_SECRET_ACCESS_KEY")
REGION_VARS = ("MINIO_REGION", "AWS_REGION", "AWS_DEFAULT_REGION")
SECURE_VAR = "MINIO_SECURE"
BUCKET_VAR = "PERSONSEG_MODEL_BUCKET"
DEFAULT_MODEL_BUCKET = "models"

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}
_BUCKET_RE = re.compile(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]")


def _first(env: Mapping[str, str], names: tuple[str, ...]) -> tuple[str, str] | None:
    for name in names:
        value = env.get(name, "").strip()
        if value:
            return name, value
    return None


def parse_bool(name: str, value: str) -> bool:
    """A boolean environment value; anything unrecognised is an error, not a silent False."""
    low = value.strip().lower()
    if low in _TRUE:
        return True
    if low in _FALSE:
        return False
    raise ConfigError(f"{name}={value!r}: expected one of true/false/1/0/yes/no")


def check_bucket_name(bucket: str, source: str = "bucket") -> str:
    """Return ``bucket`` if it is a valid S3 bucket name, else raise naming ``source``."""
    if not _BUCKET_RE.fullmatch(bucket) or ".." in bucket:
        raise ConfigError(
            f"{source} {bucket!r}: not a valid bucket name (3-63 lowercase letters, digits, '.', '-')"
        )
    return bucket


@dataclass(frozen=True)
class S3Config:
    """One S3 endpoint and the credentials for it.

    ``endpoint`` is ``host[:port]`` without a scheme (what the minio SDK wants); ``secure`` says
    whether to use TLS.
    """

    endpoint: str
    access_key: str = field(repr=False)
    secret_key: str = field(repr=False)
    secure: bool = True
    region: str | None = None

    @property
    def url(self) -> str:
        """The endpoint as a URL, safe to print (it holds no credentials)."""
        return f"{'https' if self.secure else 'http'}://{self.endpoint}"

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> S3Config:
        """Read endpoint, keys, TLS and region from ``env`` (default ``os.environ``)."""
        env = os.environ if env is None else env
        found = _first(env, ENDPOINT_VARS)
        if found is None:
            raise ConfigError(
                f"no S3 endpoint: set {' or '.join(ENDPOINT_VARS)} "
                "(`personseg storage up` starts a local server and writes the variables)"
            )
        var, raw = found
        endpoint, scheme_secure = parse_endpoint(var, raw)
        secure_env = env.get(SECURE_VAR, "").strip()
        secure = scheme_secure
        if secure_env:
            wanted = parse_bool(SECURE_VAR, secure_env)
            if scheme_secure is not None and wanted != scheme_secure:
                raise ConfigError(f"{var} says {'https' if scheme_secure else 'http'} but {SECURE_VAR}={secure_env}")
            secure = wanted
        access = _first(env, ACCESS_VARS)
        secret = _first(env, SECRET_VARS)
        if access is None or secret is None:
            missing = ACCESS_VARS if access is None else SECRET_VARS
            raise ConfigError(f"no S3 credentials for {endpoint}: set {' or '.join(missing)}")
        region = _first(env, REGION_VARS)
        return cls(
            endpoint=endpoint,
            access_key=access[1],
            secret_key=secret[1],
            secure=True if secure is None else secure,
            region=region[1] if region else None,
        )


def parse_endpoint(var: str, raw: str) -> tuple[str, bool | None]:
    """``host[:port]`` and whether the scheme asked for TLS (None when no scheme was given)."""
    if "://" not in raw:
        raw_host, secure = raw, None
    else:
        parts = urlsplit(raw)
        if parts.scheme not in ("http", "https"):
            raise ConfigError(f"{var}: scheme {parts.scheme!r} is not http or https")
        if parts.username or parts.password:
            raise ConfigError(f"{var}: must not contain credentials; use the access/secret key variables")
        if parts.path not in ("", "/") or parts.query or parts.fragment:
            raise ConfigError(f"{var}={raw!r}: an endpoint is scheme://host[:port] with no path")
        raw_host, secure = parts.netloc, parts.scheme == "https"
    host = raw_host.rstrip("/")
    if not host or "/" in host or "@" in host:
        raise ConfigError(f"{var}: expected host[:port] or http(s)://host[:port]")
    if ":" in host.rsplit("]", 1)[-1]:
        port = host.rsplit(":", 1)[1]
        if not port.isdigit() or not 0 < int(port) < 65536:
            raise ConfigError(f"{var}={raw!r}: port {port!r} is not a number in 1-65535")
    return host, secure


def model_bucket(bucket: str | None = None) -> str:
    """The registry bucket: ``bucket`` if given, else ``PERSONSEG_MODEL_BUCKET``, else ``models``."""
    if bucket:
        return check_bucket_name(bucket)
    value = os.environ.get(BUCKET_VAR, "").strip() or DEFAULT_MODEL_BUCKET
    return check_bucket_name(value, BUCKET_VAR if os.environ.get(BUCKET_VAR) else "bucket")


@dataclass(frozen=True)
class RetryPolicy:
    """How hard to try before giving up: tries = 1 + ``retries``, sleeping ``backoff * 2**i``."""

    retries: int = 4
    backoff: float = 0.5
    max_sleep: float = 8.0
    connect_timeout: float = 5.0
    read_timeout: float = 120.0

    @classmethod
    def from_env(cls) -> RetryPolicy:
        """``PERSONSEG_S3_RETRIES``, ``PERSONSEG_S3_BACKOFF``, ``PERSONSEG_S3_TIMEOUT`` override defaults."""
        out = cls()
        for var, attr, kind in (
            ("PERSONSEG_S3_RETRIES", "retries", int),
            ("PERSONSEG_S3_BACKOFF", "backoff", float),
            ("PERSONSEG_S3_TIMEOUT", "connect_timeout", float),
        ):
            raw = os.environ.get(var, "").strip()
            if not raw:
                continue
            try:
                value = kind(raw)
            except ValueError:
                raise ConfigError(f"{var}={raw!r}: expected a {kind.__name__}") from None
            if value < 0:
                raise ConfigError(f"{var}={raw!r}: must not be negative")
            out = replace(out, **{attr: value})
        return out

    def sleep_for(self, attempt: int) -> float:
        """Seconds to wait after failed try number ``attempt`` (0-based)."""
        return min(self.max_sleep, self.backoff * (2**attempt))
