"""The U-Net assembled from ``blocks``: 4 downs, 4 ups, base ``width``, one logit per pixel.

``decoder="bilinear"`` is milesial's bilinear variant (the bottleneck halves its channels and each Up
takes ``nn.Upsample``); ``decoder="transposed"`` is milesial's transposed variant (ConvTranspose2d
k=2/s=2 halving channels, full-width bottleneck). The swapped models made by ``personseg.swap.step`` keep
the bilinear layout and replace only the upsampling, so their channel counts are recorded in
``up_channels``.
"""

from __future__ import annotations

import torch
from torch import nn

from personseg.models.blocks import DoubleConv, Down, OutConv, Up, bilinear_upsample

DECODERS = ("bilinear", "transposed")


class UNet(nn.Module):
    """U-Net for binary person segmentation on RGB input."""

    def __init__(self, width: int = 32, decoder: str = "bilinear", in_channels: int = 3) -> None:
        super().__init__()
        if decoder not in DECODERS:
            raise ValueError(f"decoder {decoder!r} unknown; known: {', '.join(DECODERS)}")
        if width < 1:
            raise ValueError(f"width must be positive, got {width}")
        w = width
        factor = 2 if decoder == "bilinear" else 1
        self.inc = DoubleConv(in_channels, w)
        self.down1 = Down(w, 2 * w)
        self.down2 = Down(2 * w, 4 * w)
        self.down3 = Down(4 * w, 8 * w)
        self.down4 = Down(8 * w, 16 * w // factor)
        ups = []
        for in_ch, out_ch in ((16 * w, 8 * w), (8 * w, 4 * w), (4 * w, 2 * w), (2 * w, w)):
            if decoder == "bilinear":
                last = out_ch == w
                ups.append(Up(bilinear_upsample(), in_ch, out_ch if last else out_ch // 2, in_ch // 2))
            else:
                ups.append(Up(nn.ConvTranspose2d(in_ch, in_ch // 2, 2, stride=2), in_ch, out_ch))
        self.up1, self.up2, self.up3, self.up4 = ups
        self.outc = OutConv(w, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits of shape (N, 1, H, W) for input (N, 3, H, W); H and W divisible by 16."""
        x1 = self.inc(x)
        x2 = self.down1(x1)
        x3 = self.down2(x2)
        x4 = self.down3(x3)
        x5 = self.down4(x4)
        x = self.up1(x5, x4)
        x = self.up2(x, x3)
        x = self.up3(x, x2)
        x = self.up4(x, x1)
        return self.outc(x)

    def ups(self) -> list[Up]:
        """The four decoder blocks, top (lowest resolution) first."""
        return [self.up1, self.up2, self.up3, self.up4]
