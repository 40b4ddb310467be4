"""The swapped decoders: the bilinear U-Net's layout with ``nn.Upsample`` replaced by ConvTranspose2d.

Designs (``personseg swap --design``):

* ``exact``: a depthwise ConvTranspose2d(C, C, 4, stride 2, padding 1) holding bilinear weights. A 2x
  bilinear upsample with align_corners=False *is* this transposed convolution except on the one-pixel
  border, so the swapped model starts at the original's accuracy. Same work as the original.
* ``lean``: a ConvTranspose2d(C, C / squeeze, 2, stride 2) feeding fewer channels into each Up block's
  first 3x3 convolution, which is where the decoder spends its FLOPs; initialised from the original by a
  rank-(C / squeeze) SVD of that convolution's upsampled half, then fine-tuned (``personseg.swap.step``).
"""

from __future__ import annotations

from torch import nn

from personseg.models.unet import UNet

BUILT = ("exact", "lean")  # the designs built here; personseg.swap.config.DESIGNS names them (a test ties the two)


def bilinear_transposed(channels: int) -> nn.ConvTranspose2d:
    """A depthwise transposed convolution with the 2x bilinear kernel (align_corners=False)."""
    import torch

    conv = nn.ConvTranspose2d(channels, channels, 4, stride=2, padding=1, groups=channels, bias=False)
    taps = torch.tensor([0.25, 0.75, 0.75, 0.25])
    with torch.no_grad():
        conv.weight.copy_(torch.outer(taps, taps).expand(channels, 1, 4, 4))
    return conv


def swapped_unet(width: int = 32, design: str = "lean", squeeze: int = 2) -> UNet:
    """The bilinear-layout U-Net with its upsampling swapped per ``design`` (weights untrained)."""
    if design not in BUILT:
        raise ValueError(f"swap design {design!r} unknown; known: {', '.join(BUILT)}")
    if squeeze < 1:
        raise ValueError(f"squeeze must be >= 1, got {squeeze}")
    model = UNet(width=width, decoder="bilinear")
    for up in model.ups():
        first = up.conv.double_conv[0]
        low = first.in_channels // 2  # channels of the low-resolution input (equal to the skip's)
        if design == "exact":
            up.up = bilinear_transposed(low)
            continue
        if low % squeeze:
            raise ValueError(f"squeeze {squeeze} does not divide {low} channels (width {width})")
        reduced = low // squeeze
        up.up = nn.ConvTranspose2d(low, reduced, 2, stride=2, bias=False)
        up.conv.double_conv[0] = nn.Conv2d(low + reduced, first.out_channels, 3, padding=1, bias=False)
    return model
