"""Server settings: one frozen dataclass, filled from the environment, overridden by CLI flags.

The container sets everything through environment variables (Kubernetes manifests, KServe); the CLI
flags exist for local runs. Every bad value names the variable or flag it came from.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from dataclasses import dataclass

from personseg.cpuquota import cpu_quota
from personseg.errors import UserError
from personseg.modeldir import RUNTIMES

PARSERS = ("auto", "httptools", "h11")  # HTTP parsers (``personseg.serving.protocol``)

# (field, environment variable, type) for everything the environment may set.
ENV_FIELDS: tuple[tuple[str, str, type], ...] = (
    ("model_uri", "PERSONSEG_MODEL_URI", str),
    ("host", "PERSONSEG_HOST", str),
    ("port", "PORT", int),
    ("metrics_port", "PERSONSEG_METRICS_PORT", int),
    ("name", "PERSONSEG_MODEL_NAME", str),
    ("max_batch", "PERSONSEG_MAX_BATCH", int),
    ("batch_wait_ms", "PERSONSEG_BATCH_WAIT_MS", float),
    ("max_pixels", "PERSONSEG_MAX_PIXELS", int),
    ("max_bytes", "PERSONSEG_MAX_BYTES", int),
    ("threads", "PERSONSEG_THREADS", int),
    ("runtime", "PERSONSEG_RUNTIME", str),
    ("max_queue", "PERSONSEG_MAX_QUEUE", int),
    ("shutdown_timeout_s", "PERSONSEG_SHUTDOWN_TIMEOUT_S", float),
    ("memory_limit", "PERSONSEG_MEMORY_LIMIT", int),
    ("header_timeout_s", "PERSONSEG_HEADER_TIMEOUT_S", float),
    ("body_timeout_s", "PERSONSEG_BODY_TIMEOUT_S", float),
    ("max_connections", "PERSONSEG_MAX_CONNECTIONS", int),
    ("card_sha256", "PERSONSEG_CARD_SHA256", str),
    ("http", "PERSONSEG_HTTP", str),
)


@dataclass(frozen=True)
class ServeSettings:
    """Everything the server needs to know; printed at start-up so a run can be reproduced.

    Attributes:
        model_uri: saved-model directory, ``s3://`` prefix or ``models:/`` registry reference.
        host: interface to bind; the container sets ``0.0.0.0``.
        port: TCP port (``PORT`` in the environment, as Knative and KServe set it).
        metrics_port: a second port that alone answers ``/metrics`` (kept off the Service); 0: ``/metrics``
            is answered on ``port`` (local runs).
        name: the model name in ``/v2/models/<name>``; stable across model versions.
        max_batch: most images run in one inference call.
        batch_wait_ms: how long a batch waits for images still being decoded (a lone image does not wait).
        max_pixels: largest accepted image (width x height); bigger ones get 413.
        max_bytes: largest accepted encoded image; bigger ones get 413.
        threads: inference threads; 0 means the CPU quota of this process.
        runtime: what runs the model (``onnxruntime``, ``openvino``, ``torch``); empty: the model card's.
        max_queue: images in flight (from arrival to the end of the answer, decode included) beyond which
            new requests get 503 (back-pressure).
        shutdown_timeout_s: how long shutdown waits for in-flight requests before cancelling them.
        memory_limit: bytes the server may use, from which its in-flight memory budget is derived
            (``personseg.serving.admission``); 0 means the cgroup's limit (the pod's ``limits.memory``).
        header_timeout_s: a request's headers must be complete this long after its first byte (or after the
            connection opened); slower or silent connections are closed.
        body_timeout_s: a request's whole body must arrive this long after its headers, else 408.
        max_connections: open connections beyond which new ones are closed as soon as they are accepted.
        card_sha256: digest of the model card the deployer pinned (``personseg.storage.verify``); empty: any
            card whose files match.
        http: the HTTP parser: ``auto`` (httptools when installed, else h11), ``httptools`` or ``h11``.
    """

    model_uri: str = ""
    host: str = "127.0.0.1"
    port: int = 8080
    metrics_port: int = 0
    name: str = "personseg"
    max_batch: int = 8
    batch_wait_ms: float = 5.0
    max_pixels: int = 40_000_000
    max_bytes: int = 20 * 1024 * 1024
    threads: int = 0
    runtime: str = ""
    max_queue: int = 256
    shutdown_timeout_s: float = 25.0
    memory_limit: int = 0
    header_timeout_s: float = 10.0
    body_timeout_s: float = 60.0
    max_connections: int = 1000
    card_sha256: str = ""
    http: str = "auto"

    @property
    def inference_threads(self) -> int:
        """The thread count to give the runtime: ``threads`` or the CPU quota."""
        return self.threads or cpu_quota()

    def validated(self) -> ServeSettings:
        """Return self after checking ranges; raise ``UserError`` naming the setting otherwise."""
        if not self.model_uri:
            raise UserError("no model: pass --model URI or set PERSONSEG_MODEL_URI")
        if not self.name or "/" in self.name:
            raise UserError(f"model name {self.name!r}: must be non-empty and contain no '/'")
        metrics_apart = self.metrics_port != self.port
        checks = {
            "port": 0 <= self.port <= 65535,
            "metrics_port": self.metrics_port == 0 or (0 < self.metrics_port <= 65535 and metrics_apart),
            "max_batch": self.max_batch >= 1,
            "batch_wait_ms": 0 <= self.batch_wait_ms <= 10_000,
            "max_pixels": self.max_pixels >= 1,
            "max_bytes": self.max_bytes >= 1,
            "threads": self.threads >= 0,
            "max_queue": self.max_queue >= self.max_batch,
            "shutdown_timeout_s": self.shutdown_timeout_s >= 0,
            "memory_limit": self.memory_limit >= 0,
            "header_timeout_s": self.header_timeout_s > 0,
            "body_timeout_s": self.body_timeout_s > 0,
            "max_connections": self.max_connections >= 1,
        }
        if self.http not in PARSERS:
            raise UserError(f"setting http={self.http!r}: expected one of {', '.join(PARSERS)}")
        if self.runtime and self.runtime not in RUNTIMES:
            raise UserError(f"setting runtime={self.runtime!r}: expected one of {', '.join(RUNTIMES)} (or unset: the "
                            "model card's)")
        for field, ok in checks.items():
            if not ok:
                raise UserError(f"setting {field}={getattr(self, field)!r} is out of range")
        return self

    def with_overrides(self, **values: object) -> ServeSettings:
        """A copy with every non-None value replaced (CLI flags left unset change nothing)."""
        return dataclasses.replace(self, **{k: v for k, v in values.items() if v is not None})


def settings_from_env(environ: Mapping[str, str] | None = None) -> ServeSettings:
    """Defaults overridden by whichever ``ENV_FIELDS`` variables are set."""
    environ = os.environ if environ is None else environ
    values: dict[str, object] = {}
    for field, var, kind in ENV_FIELDS:
        raw = environ.get(var, "").strip()
        if not raw:
            continue
        try:
            values[field] = kind(raw)
        except ValueError:
            raise UserError(f"environment {var}={raw!r}: expected {kind.__name__}") from None
    return ServeSettings(**values)
