"""The model deploy runs, pinned to one registry version, and the registry calls deploy makes.

Only ``models:/`` references touch the registry: the reference is pinned to one version before
rendering (so a pod restarted next week still loads the version that passed the smoke test), its
card gives the mask the smoke test expects, the version is promoted to ``production`` after a good
rollout and marked ``rolled-back`` after a bad one (``deploy-failed`` when nothing was changed).
Tests pass an in-memory implementation of ``DeployRegistry``; production passes
``personseg.storage.registry.Registry.from_env`` (the S3 model registry), which has these calls.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from personseg.storage.refs import PREFIX


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
class PinnedModel:
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
    return str(uri).startswith(PREFIX)


def resolve_model(uri: str, registry: Callable[[], DeployRegistry]) -> tuple[PinnedModel, DeployRegistry | None]:
    """Pin a ``models:/`` reference to ``models:/NAME:VERSION``; other URIs pass through untouched.

    ``registry`` is a factory so s3:// and local models never need registry credentials.
    """
    if not is_registry_ref(uri):
        return PinnedModel(uri, uri), None
    reg = registry()
    name, version = reg.resolve(uri)
    return PinnedModel(uri, f"{PREFIX}{name}:{version}", name, int(version)), reg
