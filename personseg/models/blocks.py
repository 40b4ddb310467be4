"""U-Net building blocks in the style of milesial/Pytorch-UNet, plus the decoder's upsampling choices.

Every ``Up`` block concatenates ``[skip, upsampled]`` (skip first) and applies a ``DoubleConv``; what
differs between decoders is only how the low-resolution input is brought up to the skip's size.
"""

from __future__ import annotations

import torch
from torch import nn


class DoubleConv(nn.Module):
    """(conv 3x3 -> BN -> ReLU) twice; ``mid`` channels between the two convolutions."""

    def __init__(self, in_ch: int, out_ch: int, mid_ch: int | None = None) -> None:
        super().__init__()
        mid_ch = mid_ch or out_ch
        self.double_conv = nn.Sequential(
            nn.Conv2d(in_ch, mid_ch, 3, padding=1, bias=False),
            nn.BatchNorm2d(mid_ch),
            nn.ReLU(inplace=True),
            nn.Conv2d(mid_ch, out_ch, 3, padding=1, bias=False),
            nn.BatchNorm2d(out_ch),
            nn.ReLU(inplace=True),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Apply both convolutions."""
        return self.double_conv(x)


class Down(nn.Module):
    """Max-pool by 2, then a DoubleConv."""

    def __init__(self, in_ch: int, out_ch: int) -> None:
        super().__init__()
        self.maxpool_conv = nn.Sequential(nn.MaxPool2d(2), DoubleConv(in_ch, out_ch))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Halve the resolution and convolve."""
        return self.maxpool_conv(x)


def bilinear_upsample() -> nn.Module:
    """The seed decoder's 2x upsampling (align_corners=False, as the published model used)."""
    return nn.Upsample(scale_factor=2, mode="bilinear", align_corners=False)


class Up(nn.Module):
    """Upsample the low-resolution input with ``up``, concatenate ``[skip, up(x)]``, DoubleConv."""

    def __init__(self, up: nn.Module, in_ch: int, out_ch: int, mid_ch: int | None = None) -> None:
        super().__init__()
        self.up = up
        self.conv = DoubleConv(in_ch, out_ch, mid_ch)

    def forward(self, x: torch.Tensor, skip: torch.Tensor) -> torch.Tensor:
        """Bring ``x`` to ``skip``'s size and fuse them."""
        x = self.up(x)
        dy, dx = skip.shape[2] - x.shape[2], skip.shape[3] - x.shape[3]
        if dy or dx:
            x = nn.functional.pad(x, [dx // 2, dx - dx // 2, dy // 2, dy - dy // 2])
        return self.conv(torch.cat([skip, x], dim=1))


class OutConv(nn.Module):
    """1x1 convolution to one logit per pixel."""

    def __init__(self, in_ch: int, out_ch: int = 1) -> None:
        super().__init__()
        self.conv = nn.Conv2d(in_ch, out_ch, kernel_size=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Project to logits."""
        return self.conv(x)
