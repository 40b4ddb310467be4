"""Multiply-accumulate count of a model's convolutions (2 FLOPs each), by forward hooks."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn


def count_gflops(model: nn.Module, image_size: int) -> float:
    """GFLOP per image of all Conv2d/ConvTranspose2d layers at ``image_size`` (others are negligible)."""
    total = 0

    def hook(module: nn.Module, inputs: Any, output: torch.Tensor) -> None:
        nonlocal total
        if isinstance(module, nn.ConvTranspose2d):
            # every input pixel meets the whole kernel once for each output channel group
            kh, kw = module.kernel_size
            total += inputs[0].shape[2] * inputs[0].shape[3] * module.in_channels * kh * kw * (
                module.out_channels // module.groups)
        elif isinstance(module, nn.Conv2d):
            kh, kw = module.kernel_size
            total += output.shape[2] * output.shape[3] * module.out_channels * kh * kw * (
                module.in_channels // module.groups)

    handles = [m.register_forward_hook(hook) for m in model.modules() if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d))]
    try:
        with torch.inference_mode():
            model.eval()(torch.zeros(1, 3, image_size, image_size))
    finally:
        for h in handles:
            h.remove()
    return 2 * total / 1e9
