"""The deploy gate: a candidate may ship only if it is accurate enough, fast enough and better.

Each candidate (``candidates.py``) is gated alone against the seed and the FP32 ONNX of its own
network; ``selection.py`` then deploys the fastest of those that pass.

The checks, all on figures measured in one evaluation run on the test split (never used to choose
a model):

* accuracy: INT8 IoU >= FP32 IoU of the same network (in ONNX Runtime) - ``tolerable_iou_loss``
  (absolute IoU points), so quantization never costs more than the user allows;
* seed: INT8 IoU >= the seed's IoU (the trained bilinear network in FP32, the evaluation's baseline)
  - ``tolerable_iou_loss``: the end-to-end loss the user sees, swap and quantization together, so a
  swap that damaged its network cannot ship on the strength of a faithful quantization;
* floor: INT8 IoU >= ``min_iou``, so a model that never learned is not deployed on a first run;
* speed: INT8 speedup over the FP32 ONNX Runtime model of the same network (what quantization is
  for), timed interleaved in the same process, >= ``min_speedup``; moving from PyTorch to ONNX
  Runtime alone is ~2x, so the end-to-end figure over the bilinear seed is reported, not gated;
* production: better than the current production model on the same images, judged by a paired
  bootstrap of the per-image IoU gain (``personseg.evaluate.paired``): deploy when the lower bound of
  its 95% interval is above 0, so a tie on a few images is no reason to replace production; passes
  when no production model exists yet;
* int8: the candidate's model holds INT8 ops (its recorded precision, counted when it was quantized);
  when tuning fell back until nothing was quantized, it is an FP32 model and is named so;
* extra (only with ``min_extra_iou`` > 0): INT8 IoU on the second evaluation set (real photographs
  by default) >= ``min_extra_iou``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from personseg.errors import UserError
from personseg.evaluate.paired import paired_bootstrap


@dataclass(frozen=True)
class Check:
    """One gate check: did it pass, and the numbers that decided it."""

    passed: bool
    detail: str


@dataclass(frozen=True)
class GateDecision:
    """The gate's verdict and why."""

    deploy: bool
    checks: dict[str, Check] = field(default_factory=dict)

    @property
    def summary(self) -> str:
        """One line for logs and the KFP UI: verdict plus each check."""
        verdict = "deploy" if self.deploy else "do not deploy"
        parts = [f"{name} {'ok' if c.passed else 'FAILED'} ({c.detail})" for name, c in self.checks.items()]
        return f"{verdict}: " + "; ".join(parts)

    def to_dict(self) -> dict[str, Any]:
        """Plain data for JSON reports."""
        return {"deploy": self.deploy, "summary": self.summary,
                "checks": {k: asdict(v) for k, v in self.checks.items()}}


def model_row(result: dict, name: str) -> dict:
    """The row of model ``name`` in an evaluation result (``personseg.evaluate.step`` contract)."""
    for row in result.get("models", []):
        if row.get("name") == name:
            return row
    known = ", ".join(r.get("name", "?") for r in result.get("models", []))
    raise UserError(f"evaluation result: no model named {name!r} (models: {known})")


def check_thresholds(tolerable_iou_loss: float, min_speedup: float, min_extra_iou: float = 0.0,
                     min_iou: float = 0.0) -> None:
    """Refuse thresholds no candidate could be judged by (the pipeline's first step checks them too)."""
    if not 0 <= tolerable_iou_loss < 1:
        raise UserError(f"tolerable_iou_loss {tolerable_iou_loss}: must be in [0, 1)")
    if min_speedup <= 0:
        raise UserError(f"min_speedup {min_speedup}: must be positive")
    if not 0 <= min_iou < 1:
        raise UserError(f"min_iou {min_iou}: must be in [0, 1) (0 turns the floor off)")
    if not 0 <= min_extra_iou <= 1:
        raise UserError(f"min_extra_iou {min_extra_iou}: must be in [0, 1] (0 turns the check off)")


def production_check(candidate: str, cand: dict, production: dict[str, Any] | None,
                     ids: list[str] | None = None) -> Check:
    """Better than production: the paired bootstrap's lower bound of the per-image IoU gain is above 0.

    ``ids`` are the images ``cand`` was scored on; production's must be the same, in the same order.
    """
    if production is None:
        return Check(True, "no production model yet")
    ref = production.get("ref", "production")
    if "per_image_iou" not in cand or "per_image_iou" not in production:
        raise UserError(f"production check: {candidate} or {ref} has no per-image IoU to pair (an evaluation "
                        "written before per_image_iou)")
    if ids is not None and production.get("ids") is not None and list(production["ids"]) != list(ids):
        raise UserError(f"production check: {ref} was scored on other images than {candidate}; a paired "
                        "comparison needs the same test images")
    gain = paired_bootstrap(cand["per_image_iou"], production["per_image_iou"])
    return Check(gain.low > 0,
                 f"{candidate} IoU {cand['iou']:.4f} vs production {production['iou']:.4f}: gain {gain.gain:+.4f}, "
                 f"{gain.level:.0%} paired bootstrap interval [{gain.low:+.4f}, {gain.high:+.4f}] over "
                 f"{gain.images} images ({gain.resamples} resamples, seed {gain.seed}); deploys when its lower "
                 "bound > 0")


def decide(result: dict, tolerable_iou_loss: float, min_speedup: float, production: dict[str, Any] | None = None,
           *, candidate: str, fp32: str, min_iou: float = 0.0, min_extra_iou: float = 0.0) -> GateDecision:
    """Apply the checks to the evaluation row ``candidate``.

    References: ``fp32`` (its network's FP32 ONNX row), the seed (``result["baseline"]``) and
    ``production`` (``{"ref", "iou", "per_image_iou"}`` scored on the same images, or None).
    """
    check_thresholds(tolerable_iou_loss, min_speedup, min_extra_iou, min_iou)
    cand, ref, seed = model_row(result, candidate), model_row(result, fp32), model_row(result, result["baseline"])
    loss, seed_loss = ref["iou"] - cand["iou"], seed["iou"] - cand["iou"]
    quant_speedup = ref["latency_ms"]["median"] / cand["latency_ms"]["median"]
    checks = {
        "accuracy": Check(loss <= tolerable_iou_loss,
                          f"{candidate} IoU {cand['iou']:.4f} vs {fp32} {ref['iou']:.4f}: loss {loss:.4f}, "
                          f"tolerance {tolerable_iou_loss:.4f}"),
        "seed": Check(seed_loss <= tolerable_iou_loss,
                      f"{candidate} IoU {cand['iou']:.4f} vs seed {result['baseline']} {seed['iou']:.4f}: loss "
                      f"{seed_loss:.4f}, tolerance {tolerable_iou_loss:.4f}"),
        "floor": Check(cand["iou"] >= min_iou, f"{candidate} IoU {cand['iou']:.4f}, min_iou {min_iou:.4f}"),
        "speed": Check(quant_speedup >= min_speedup,
                       f"{candidate} {quant_speedup:.2f}x over {fp32} (same network in FP32), minimum "
                       f"{min_speedup:.2f}x; end to end {cand['speedup']:.2f}x over {result['baseline']}"),
        "production": production_check(candidate, cand, production, result.get("data", {}).get("ids")),
    }
    if min_extra_iou > 0:
        extra = cand.get("extra")
        if extra is None:
            raise UserError(f"min_extra_iou {min_extra_iou}: the evaluation has no second evaluation set "
                            "(set extra_eval_uri, or min_extra_iou 0)")
        name = result["extra_data"]["uri"]
        checks["extra"] = Check(extra["iou"] >= min_extra_iou,
                                f"{candidate} IoU {extra['iou']:.4f} on {name}, floor {min_extra_iou:.4f}")
    checks["int8"] = int8_check(candidate, cand)
    return GateDecision(all(c.passed for c in checks.values()), checks)


def int8_check(candidate: str, cand: dict) -> Check:
    """The candidate holds INT8 ops: a quantization that kept none is an FP32 model under an INT8 name."""
    precision = cand.get("precision")
    if precision == "int8":
        return Check(True, f"{candidate} runs INT8 ops")
    return Check(False, f"{candidate} is {cand.get('kind', '')} {precision}: quantization kept no INT8 op, so it is "
                        "the FP32 network again")
