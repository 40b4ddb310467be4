"""INT8 masks must agree with FP32's: put op types back in FP32, one at a time, until they do.

Each round tries every op type still quantized in FP32 and keeps, among the tries that pass the gate,
the one with the most work left in INT8 (fewest FP32 nodes as ONNX Runtime executes them); when none
passes, the best agreement so far, and the next round starts from there. Every try is logged in the
gate log the model card keeps.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import onnx

from personseg.console.progress import clear as clear_progress
from personseg.errors import UserError
from personseg.quantize.onnx_backend import quantized_op_types
from personseg.quantize.ort_graph import fp32_nodes

log = logging.getLogger(__name__)

# quantize into ``path`` with these op types kept in FP32 -> (the configuration used, masks, agreement)
Attempt = Callable[[Path, set[str]], tuple[dict[str, Any], np.ndarray, float]]


@dataclass
class Agreed:
    """The INT8 model that passed: its configuration, tuning masks, agreement, and every try on the way."""

    used: dict[str, Any]
    masks: np.ndarray
    agreement: float
    gate_log: list[dict[str, Any]]


def _tries(attempt: Attempt, q_path: Path, exclude: set[str], gate_log: list[dict[str, Any]]) -> list[tuple]:
    """One round: each op type still quantized, tried in FP32 on top of ``exclude``."""
    trials = []
    for op_type in [t for t in quantized_op_types(onnx.load(str(q_path))) if t not in exclude]:
        trial_path = q_path.parent / f"try-{op_type}.onnx"
        trial_used, trial_masks, trial_agreement = attempt(trial_path, exclude | {op_type})
        gate_log.append({"excluded": sorted(exclude | {op_type}), "agreement_iou": trial_agreement})
        log.info("quantize: with %s in FP32, agreement %.4f", op_type, trial_agreement)
        fp32_count = len(fp32_nodes(trial_path))
        trials.append((trial_agreement, fp32_count, op_type, trial_path, trial_used, trial_masks))
    return trials


def quantize_until_agreed(attempt: Attempt, q_path: Path, min_agreement: float, max_fallbacks: int) -> Agreed:
    """Quantize into ``q_path``, falling back op type by op type until INT8 agrees with FP32, else refuse."""
    exclude: set[str] = set()
    used, q_masks, agreement = attempt(q_path, exclude)
    gate_log = [{"excluded": [], "agreement_iou": agreement}]
    clear_progress()
    log.info("quantize: INT8 vs FP32 mask agreement %.4f (gate %.3f)", agreement, min_agreement)
    while agreement < min_agreement:
        if len(exclude) >= max_fallbacks:
            raise UserError(f"quantize: INT8 masks agree with FP32 at IoU {agreement:.4f} < --min-agreement "
                            f"{min_agreement} even with {sorted(exclude)} in FP32; not writing a model")
        trials = _tries(attempt, q_path, exclude, gate_log)
        if not trials:
            break
        # among fixes that pass the gate, keep the most work in INT8; else the best agreement so far
        passing = [t for t in trials if t[0] >= min_agreement]
        best = min(passing, key=lambda t: t[1]) if passing else max(trials, key=lambda t: t[0])
        agreement, _, op_type, best_path, used, q_masks = best
        exclude.add(op_type)
        best_path.replace(q_path)
    if agreement < min_agreement:
        raise UserError(f"quantize: INT8 masks agree with FP32 at IoU {agreement:.4f} < --min-agreement "
                        f"{min_agreement}; not writing a model")
    return Agreed(used, q_masks, agreement, gate_log)
