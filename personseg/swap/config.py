"""What a swap is, and its design names: the one set of swap defaults, shared by ``personseg swap`` and the pipeline.

Light on purpose (no torch at import): the CLI reads its flags' defaults from here. A design is named
``exact``, ``lean`` (squeeze 2), ``leanN`` / ``lean:N``, or ``pruneNN`` / ``prune:R`` (structured pruning
of NN % / ratio R of every convolution's channels; ``prune`` alone is prune50) everywhere (``--design
lean4`` on the CLI, ``swap_design=lean4`` in the pipeline). The defaults are the pipeline's measured
ones: ``lean4`` from its SVD start with no fine-tuning (docs/experiments/demo-deploys.md: over 3 seeds
the demo's 3 epochs of distillation lowered the deployed model's IoU on real photographs).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from personseg.errors import UserError

DESIGNS = ("exact", "lean", "prune")
# Fine-tuning learning rate where none is given: the lean and exact designs start from an SVD of the seed's
# own weights, already close; a pruned network starts further away (val IoU 0.63-0.82 after pruning), and
# every figure of the pruning study is at 1e-3 (docs/experiments/pruning.md).
DEFAULT_LR = {"exact": 3e-4, "lean": 3e-4, "prune": 1e-3}
KNOWN = "exact, lean, lean2, lean4 (lean:N), prune25, prune50, prune75 (prune:R)"


def _prune_ratio(spec: str, value: str) -> float:
    """``"50"`` (percent) or ``":0.5"`` (ratio) -> 0.5; the ratio must be in (0, 1)."""
    try:
        ratio = float(value[1:]) if value.startswith(":") else int(value) / 100 if value else 0.5
    except ValueError:
        raise ValueError(f"swap design {spec!r} unknown; known: {KNOWN}") from None
    if not 0 < ratio < 1:
        raise ValueError(f"swap design {spec!r}: the prune ratio must be in (0, 1), got {ratio}")
    return ratio


def parse_design(spec: str) -> dict[str, Any]:
    """``"exact"``, ``"lean4"``, ``"lean:4"``, ``"prune50"``, ``"prune:0.5"`` -> ``SwapConfig`` fields.

    ``{"design": ..., "squeeze": ..., "ratio": ...}``; squeeze is lean's, ratio prune's (1 and 0 otherwise).
    """
    if spec.startswith("prune"):
        return {"design": "prune", "squeeze": 1, "ratio": _prune_ratio(spec, spec[len("prune"):])}
    name = spec.rstrip("0123456789:")
    digits = spec[len(name):].lstrip(":")
    if name not in DESIGNS or (digits and not digits.isdigit()) or (name == "exact" and digits):
        raise ValueError(f"swap design {spec!r} unknown; known: {KNOWN}")
    squeeze = int(digits) if digits else (2 if name == "lean" else 1)
    return {"design": name, "squeeze": squeeze, "ratio": 0.0}


def design_name(design: str, squeeze: int, ratio: float = 0.0) -> str:
    """The name ``parse_design`` reads back: ``exact``, ``lean4``, ``prune50`` (``prune:0.125`` off the percent)."""
    if design == "prune":
        percent = ratio * 100
        return f"prune{round(percent)}" if abs(percent - round(percent)) < 1e-9 else f"prune:{ratio:g}"
    return design if design == "exact" else f"{design}{squeeze}"


@dataclass(frozen=True)
class SwapConfig:
    """How to swap and how long to fine-tune."""

    model: str
    data: str
    design: str = "lean"
    squeeze: int = 4
    ratio: float = 0.0
    epochs: int = 0
    lr: float | None = None  # None: the design's DEFAULT_LR (filled in when the config is made)
    distill: bool = True
    seed: int = 0
    batch_size: int = 8

    def __post_init__(self) -> None:
        if self.lr is None:  # the card records the rate used, not None
            object.__setattr__(self, "lr", DEFAULT_LR.get(self.design, DEFAULT_LR["lean"]))

    @property
    def design_name(self) -> str:
        """``design`` with its squeeze or ratio under their one name (``lean4``, ``prune50``)."""
        return design_name(self.design, self.squeeze, self.ratio)

    def check(self) -> None:
        """Reject a design or epoch count the swap cannot run, naming the flag."""
        if self.design not in DESIGNS:
            raise UserError(f"--design {self.design!r}: known designs are {KNOWN}")
        if self.squeeze < 1:
            raise UserError(f"--squeeze {self.squeeze}: must be >= 1")
        if self.design == "prune" and not 0 < self.ratio < 1:
            raise UserError(f"--ratio {self.ratio}: the share of channels pruned must be in (0, 1)")
        if self.epochs < 0:
            raise UserError(f"--epochs {self.epochs}: must be >= 0")
        if not self.lr or self.lr <= 0:
            raise UserError(f"--lr {self.lr}: must be > 0")
