"""Training augmentation on batches of tensors: flip, scale-crop and colour jitter.

Geometric transforms are applied to images and labels together (labels with nearest sampling so
ignore pixels stay exact); colour jitter touches images only. Randomness comes from a Generator so
training is reproducible from its seed.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from personseg.data import IGNORE


@dataclass(frozen=True)
class AugmentConfig:
    """Strength of each augmentation; zero disables it."""

    flip: float = 0.5
    scale_min: float = 0.75
    scale_max: float = 1.25
    brightness: float = 0.25
    contrast: float = 0.25
    saturation: float = 0.25


def augment(
    images: torch.Tensor, labels: torch.Tensor, cfg: AugmentConfig, gen: torch.Generator
) -> tuple[torch.Tensor, torch.Tensor]:
    """Augment a batch: images (N, 3, S, S) float in [0, 1], labels (N, 1, S, S) uint8."""
    n, _, s, _ = images.shape
    flip = torch.rand(n, generator=gen) < cfg.flip
    images = torch.where(flip[:, None, None, None], images.flip(3), images)
    labels = torch.where(flip[:, None, None, None], labels.flip(3), labels)
    if cfg.scale_max > cfg.scale_min or cfg.scale_min != 1.0:
        scale = cfg.scale_min + (cfg.scale_max - cfg.scale_min) * torch.rand(n, generator=gen)
        shift = (torch.rand(n, 2, generator=gen) * 2 - 1) * (1 - 1 / scale).clamp(min=0)[:, None]
        theta = torch.zeros(n, 2, 3)
        theta[:, 0, 0] = 1 / scale
        theta[:, 1, 1] = 1 / scale
        theta[:, :, 2] = shift
        grid = F.affine_grid(theta, [n, 1, s, s], align_corners=False)
        images = F.grid_sample(images, grid, mode="bilinear", padding_mode="reflection", align_corners=False)
        # zoom-out pads labels with IGNORE-free background: reflection keeps image content, so mirror labels too
        labels = F.grid_sample(labels.float(), grid, mode="nearest", padding_mode="reflection", align_corners=False)
        labels = labels.round().clamp(0, IGNORE).to(torch.uint8)
    b = 1 + (torch.rand(n, 1, 1, 1, generator=gen) * 2 - 1) * cfg.brightness
    c = 1 + (torch.rand(n, 1, 1, 1, generator=gen) * 2 - 1) * cfg.contrast
    sat = 1 + (torch.rand(n, 1, 1, 1, generator=gen) * 2 - 1) * cfg.saturation
    grey = images.mean(dim=1, keepdim=True)
    images = grey + (images - grey) * sat
    mean = images.mean(dim=(1, 2, 3), keepdim=True)
    images = ((images - mean) * c + mean) * b
    return images.clamp(0, 1), labels
