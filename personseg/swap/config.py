"""What a swap is, and its design names: the one set of swap defaults, shared by ``personseg swap`` and the pipeline.

Light on purpose (no torch at import): the CLI reads its flags' defaults from here. A design is named
``exact``, ``lean`` (squeeze 2) or ``leanN`` / ``lean:N`` everywhere (``--design lean4`` on the CLI,
``swap_design=lean4`` in the pipeline). The defaults are the pipeline's measured ones: ``lean4`` from
its SVD start with no fine-tuning (docs/experiments/demo-deploys.md: over 3 seeds the demo's 3 epochs of
distillation lowered the deployed model's IoU on real photographs).
"""

from __future__ import annotations

from dataclasses import dataclass

from personseg.errors import UserError

DESIGNS = ("exact", "lean")


def parse_design(spec: str) -> tuple[str, int]:
    """``"exact"``, ``"lean"`` (squeeze 2), ``"lean4"`` or ``"lean:4"`` -> ``(design, squeeze)``."""
    name = spec.rstrip("0123456789:")
    digits = spec[len(name):].lstrip(":")
    if name not in DESIGNS or (digits and not digits.isdigit()) or (name == "exact" and digits):
        raise ValueError(f"swap design {spec!r} unknown; known: exact, lean, lean2, lean4 (lean:N)")
    squeeze = int(digits) if digits else (2 if name == "lean" else 1)
    return name, squeeze


def design_name(design: str, squeeze: int) -> str:
    """The name ``parse_design`` reads back as ``(design, squeeze)``: ``exact``, ``lean4``."""
    return design if design == "exact" else f"{design}{squeeze}"


@dataclass(frozen=True)
class SwapConfig:
    """How to swap and how long to fine-tune."""

    model: str
    data: str
    design: str = "lean"
    squeeze: int = 4
    epochs: int = 0
    lr: float = 3e-4
    distill: bool = True
    seed: int = 0
    batch_size: int = 8

    @property
    def design_name(self) -> str:
        """``design`` and ``squeeze`` under their one name (``lean4``)."""
        return design_name(self.design, self.squeeze)

    def check(self) -> None:
        """Reject a design or epoch count the swap cannot run, naming the flag."""
        if self.design not in DESIGNS:
            raise UserError(f"--design {self.design!r}: known designs are exact, lean, lean2, lean4 (lean:N)")
        if self.squeeze < 1:
            raise UserError(f"--squeeze {self.squeeze}: must be >= 1")
        if self.epochs < 0:
            raise UserError(f"--epochs {self.epochs}: must be >= 0")
