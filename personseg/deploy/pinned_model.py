"""What deploy needs from the model registry, behind a small interface.

Only ``models:/`` references touch the registry: the reference is pinned to one version before
rendering (so a pod restarted next week still loads the version that passed the smoke test), its
card gives the mask the smoke test expects, the version is promoted to ``production`` after a good
rollout and marked ``rolled-back`` after a bad one (``deploy-failed`` when nothing was changed).
Tests pass an in-memory implementation of ``DeployRegistry``; production uses ``StorageRegistry``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

MODELS_PREFIX = "models:/"


class DeployRegistry(Protocol):
    """The registry calls deploy makes (a subset of ``personseg.storage.registry.Registry``)."""

    def resolve(self, ref: str) -> tuple[str, int]:
        """``models:/NAME@STAGE`` or ``models:/NAME:VERSION`` -> (name, version)."""
        ...

    def promote(self, name: str, version: int, stage: str = "production") -> None:
        """Point ``stage`` at ``version``."""
        ...

    def stage(self, name: str, stage: str) -> int | None:
        """The version ``stage`` points at, if any."""
        ...

    def mark(self, name: str, version: int, status: str, detail: str = "") -> None:
        """Record a deployment outcome on the version."""
        ...

    def location(self, name: str, version: int) -> str:
        """The ``s3://`` prefix holding the version's files (for KServe's storage initializer)."""
        ...

    def card(self, name: str, version: int) -> dict[str, Any]:
        """The version's model card (its ``smoke`` field holds the expected mask)."""
        ...


@dataclass(frozen=True)
class ModelRef:
    """The model as asked for and as deployed (a registry reference pinned to its version)."""

    uri: str
    pinned: str
    name: str | None = None
    version: int | None = None

    @property
    def in_registry(self) -> bool:
        """True when outcomes are recorded in the registry."""
        return self.name is not None and self.version is not None


def is_registry_ref(uri: str) -> bool:
    """True for ``models:/...`` references."""
    return str(uri).startswith(MODELS_PREFIX)


def resolve_model(uri: str, registry: Callable[[], DeployRegistry]) -> tuple[ModelRef, DeployRegistry | None]:
    """Pin a ``models:/`` reference to ``models:/NAME:VERSION``; other URIs pass through untouched.

    ``registry`` is a factory so s3:// and local models never need registry credentials.
    """
    if not is_registry_ref(uri):
        return ModelRef(uri, uri), None
    reg = registry()
    name, version = reg.resolve(uri)
    return ModelRef(uri, f"{MODELS_PREFIX}{name}:{version}", name, int(version)), reg


class StorageRegistry:
    """``DeployRegistry`` on top of ``personseg.storage.registry.Registry`` (the real S3 registry)."""

    def __init__(self, registry: object | None = None) -> None:
        if registry is None:
            from personseg.storage.registry import Registry

            registry = Registry.from_env()
        self.registry = registry

    def resolve(self, ref: str) -> tuple[str, int]:
        """Delegate to the storage registry."""
        name, version = self.registry.resolve(ref)
        return name, int(version)

    def promote(self, name: str, version: int, stage: str = "production") -> None:
        """Delegate to the storage registry."""
        self.registry.promote(name, version, stage=stage)

    def stage(self, name: str, stage: str) -> int | None:
        """Delegate to the storage registry."""
        return self.registry.stage(name, stage)

    def mark(self, name: str, version: int, status: str, detail: str = "") -> None:
        """Delegate to the storage registry."""
        self.registry.mark(name, version, status, detail=detail)

    def card(self, name: str, version: int) -> dict[str, Any]:
        """Delegate to the storage registry."""
        return self.registry.card(name, version)

    def location(self, name: str, version: int) -> str:
        """The version's ``s3://`` prefix: ``<bucket>/<name>/<version>/`` is the storage registry's layout."""
        return f"s3://{self.registry.bucket}/{name}/{int(version)}/"
