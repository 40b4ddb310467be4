"""The pruned U-Net: the bilinear U-Net's layout with fewer channels in every convolution.

``personseg swap --design pruneNN`` removes NN % of the output channels of every 3x3 convolution
(encoder, bottleneck and decoder alike, each DoubleConv's middle and output). A block's input width
follows from what feeds it: the previous block's kept outputs, and in the decoder the concatenation
``[skip, upsampled]`` of the kept encoder and kept lower-decoder channels. The counts depend only on
``width`` and ``ratio``, so ``{"name": "unet-pruned", "width": 32, "ratio": 0.5}`` rebuilds the network.
"""

from __future__ import annotations

from torch import nn

from personseg.models.blocks import DoubleConv
from personseg.models.unet import UNet

BLOCKS = ("inc", "down1", "down2", "down3", "down4", "up1", "up2", "up3", "up4")


def kept(channels: int, ratio: float) -> int:
    """How many of ``channels`` survive pruning ``ratio`` of them (at least one)."""
    return max(1, round(channels * (1 - ratio)))


def double_conv(model: UNet, block: str) -> DoubleConv:
    """The DoubleConv of ``block`` (one of ``BLOCKS``)."""
    module = getattr(model, block)
    if block == "inc":
        return module
    if block.startswith("down"):
        return module.maxpool_conv[1]
    return module.conv


def block_inputs() -> dict[str, list[str]]:
    """Per block, the blocks whose outputs make its input, in concatenation order (``image``: the RGB input)."""
    inputs = {"inc": ["image"], **{f"down{i}": [BLOCKS[i - 1]] for i in range(1, 5)}}
    low = "down4"
    for i, skip in zip(range(1, 5), ("down3", "down2", "down1", "inc")):
        inputs[f"up{i}"] = [skip, low]  # Up concatenates [skip, upsampled]; upsampling keeps channels
        low = f"up{i}"
    return inputs


def check_ratio(ratio: float) -> None:
    """Refuse a ratio that removes nothing sensible."""
    if not 0 <= ratio < 1:
        raise ValueError(f"prune ratio {ratio}: must be in [0, 1)")


def pruned_unet(width: int = 32, ratio: float = 0.5) -> UNet:
    """The bilinear-layout U-Net with ``ratio`` of every convolution's output channels removed (untrained)."""
    check_ratio(ratio)
    model = UNet(width=width, decoder="bilinear")
    outs = {"image": model.inc.double_conv[0].in_channels}
    for block in BLOCKS:
        conv = double_conv(model, block)
        mid = kept(conv.double_conv[0].out_channels, ratio)
        out = kept(conv.double_conv[3].out_channels, ratio)
        resize(conv, sum(outs[src] for src in block_inputs()[block]), mid, out)
        outs[block] = out
    model.outc.conv = nn.Conv2d(outs["up4"], 1, kernel_size=1)
    return model


def resize(conv: DoubleConv, in_ch: int, mid: int, out: int) -> None:
    """Replace ``conv``'s layers by ones of the given widths."""
    seq = conv.double_conv
    seq[0] = nn.Conv2d(in_ch, mid, 3, padding=1, bias=False)
    seq[1] = nn.BatchNorm2d(mid)
    seq[3] = nn.Conv2d(mid, out, 3, padding=1, bias=False)
    seq[4] = nn.BatchNorm2d(out)
