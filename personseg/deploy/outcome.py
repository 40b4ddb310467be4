"""The small result object every deploy target returns and the CLI prints as JSON."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from personseg.errors import UserError


@dataclass(frozen=True)
class DeployResult:
    """What was deployed where, and what the smoke test saw."""

    target: str
    name: str
    namespace: str
    model: str
    pinned_model: str
    image: str
    status: str
    seconds: float
    endpoint: str
    smoke: dict[str, Any] = field(default_factory=dict)
    config: dict[str, Any] = field(default_factory=dict)
    pid: int | None = None
    state_dir: str | None = None  # local target: the absolute folder recording the server (to stop it from anywhere)
    container: str | None = None  # container target: the serving container's id
    ready_seconds: float | None = None  # container target: from `run` to ready (model pull and warm-up included)

    def to_dict(self) -> dict[str, Any]:
        """Plain data for JSON."""
        return asdict(self)


class DeployFailed(UserError):
    """A deploy that did not go through; ``rolled_back`` says whether the previous state was restored."""

    def __init__(self, message: str, rolled_back: bool) -> None:
        super().__init__(message)
        self.rolled_back = rolled_back


class DeployBusy(UserError):
    """Another deploy of the same name is running (its Lease, or the local target's lock, is held)."""
