"""Gate every candidate, then pick the one to deploy: the fastest (highest images/s) that passed.

Each evaluated candidate goes through ``gate.decide`` against the FP32 ONNX model of its own network
(accuracy, speed = INT8 over that FP32 ONNX), the seed (seed: the end-to-end loss), ``min_iou`` (floor),
production and the second evaluation set (extra). A failing candidate is never picked,
however fast; when none passes the winner is ``""`` and nothing is deployed. Speed is compared on the
figures of one interleaved timing run, so candidates on different runtimes are timed alike.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from personseg.errors import UserError
from personseg.steps.gate import GateDecision, decide, model_row


@dataclass(frozen=True)
class Verdict:
    """One candidate's outcome: its gate decision, or why it never reached the evaluation."""

    name: str
    network: str
    runtime: str
    row: str  # its model's name in the evaluation result
    fp32: str  # the evaluation row of its network's FP32 ONNX
    decision: GateDecision | None = None
    reason: str = ""  # set when it failed before evaluation (quantize, runtime)

    @property
    def passed(self) -> bool:
        """True when it was evaluated and every gate check held."""
        return self.decision is not None and self.decision.deploy

    def failure(self) -> str:
        """``failed accuracy (...), speed (...)``, or why it never got evaluated; "" when it passed."""
        if self.decision is None:
            return f"failed before evaluation ({self.reason})"
        bad = [f"{k} ({c.detail})" for k, c in self.decision.checks.items() if not c.passed]
        return f"failed {', '.join(bad)}" if bad else ""

    def to_dict(self) -> dict[str, Any]:
        """Plain data for the JSON report."""
        return {"name": self.name, "network": self.network, "runtime": self.runtime, "model": self.row,
                "fp32_onnx": self.fp32, "passed": self.passed, "reason": self.reason,
                "gate": self.decision.to_dict() if self.decision else None}


@dataclass(frozen=True)
class Selection:
    """The verdicts, the winner (``""``: none passed) and the sentence saying why."""

    verdicts: list[Verdict]
    winner: str
    why: str

    def verdict(self, name: str) -> Verdict:
        """The verdict of candidate ``name``."""
        return next(v for v in self.verdicts if v.name == name)


def judge(index: dict[str, Any], result: dict, tolerable_iou_loss: float, min_speedup: float,
          production: dict[str, Any] | None = None, min_extra_iou: float = 0.0,
          min_iou: float = 0.0) -> list[Verdict]:
    """Each candidate of the quantize step's ``index``, gated on the evaluation ``result``."""
    verdicts = []
    for c in index["candidates"]:
        base = {"name": c["name"], "network": c["network"], "runtime": c["runtime"], "row": c["path"],
                "fp32": c["fp32_onnx"]}
        if c["status"] != "ok":
            verdicts.append(Verdict(**base, reason=c["reason"]))
            continue
        decision = decide(result, tolerable_iou_loss, min_speedup, production, candidate=c["path"],
                          fp32=c["fp32_onnx"], min_iou=min_iou, min_extra_iou=min_extra_iou)
        verdicts.append(Verdict(**base, decision=decision))
    return verdicts


def images_per_s(result: dict, verdict: Verdict) -> float:
    """The candidate's measured throughput in this evaluation."""
    return float(model_row(result, verdict.row)["images_per_s"])


def select(verdicts: list[Verdict], result: dict) -> Selection:
    """The fastest passing candidate, and a sentence naming why it won and why each other one lost."""
    if not verdicts:
        raise UserError("selection: no candidates to choose from")
    passing = sorted((v for v in verdicts if v.passed), key=lambda v: images_per_s(result, v), reverse=True)
    failed = "; ".join(f"{v.name} {v.failure()}" for v in verdicts if not v.passed)
    if not passing:
        return Selection(verdicts, "", f"No candidate passed: {failed}.")
    win = passing[0]
    if len(passing) == 1:
        head = f"{win.name}: the only one of the {len(verdicts)} candidates that passed"
    else:
        ratio = images_per_s(result, win) / images_per_s(result, passing[1])
        head = (f"{win.name}: fastest of the {len(passing)} that passed "
                f"({images_per_s(result, win):.1f} images/s), {ratio:.2f}x faster than the next ({passing[1].name})")
    return Selection(verdicts, win.name, head + (f"; {failed}" if failed else "") + ".")


def focus(selection: Selection, result: dict) -> Verdict:
    """The candidate the chain and gallery show: the winner, else the fastest one evaluated."""
    if selection.winner:
        return selection.verdict(selection.winner)
    evaluated = [v for v in selection.verdicts if v.decision is not None]
    if not evaluated:
        raise UserError("selection: no candidate was evaluated")
    return max(evaluated, key=lambda v: images_per_s(result, v))
