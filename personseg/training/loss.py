"""BCE + soft Dice on logits, both skipping ``IGNORE`` pixels; optional distillation to a teacher."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from personseg.data import IGNORE


def seg_loss(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Mean BCE over valid pixels plus (1 - soft Dice) per image, averaged over the batch."""
    valid = (labels != IGNORE).float()
    target = (labels == 1).float()
    bce = F.binary_cross_entropy_with_logits(logits, target, weight=valid, reduction="sum") / valid.sum().clamp(min=1)
    prob = torch.sigmoid(logits) * valid
    inter = (prob * target).sum(dim=(1, 2, 3))
    denom = prob.sum(dim=(1, 2, 3)) + (target * valid).sum(dim=(1, 2, 3))
    dice = (2 * inter + 1) / (denom + 1)
    return bce + (1 - dice).mean()


def distill_loss(logits: torch.Tensor, teacher_logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Mean BCE of the student against the teacher's probabilities (soft targets) over valid pixels.

    ``IGNORE`` pixels (ignore maps, letterbox padding) are skipped, as in ``seg_loss``: what either
    network says on the padding is never served, and copying it there would spend the student's capacity.
    """
    valid = (labels != IGNORE).float()
    bce = F.binary_cross_entropy_with_logits(logits, torch.sigmoid(teacher_logits), weight=valid, reduction="sum")
    return bce / valid.sum().clamp(min=1)
