"""Structured pruning of a trained bilinear U-Net: whole channels out, by the L1 norm of each filter.

Every 3x3 convolution keeps its ``1 - ratio`` output channels of largest score, where a channel's
score is the L1 norm of its filter scaled by its BatchNorm's ``|gamma| / sqrt(var + eps)`` (the
filter's L1 norm once BN is folded into it, so a channel BN silences ranks low whatever its raw
weights). The next layer keeps the matching input channels; in the decoder the input is the
concatenation ``[skip, upsampled]``, so its kept columns are the skip block's kept channels followed
by the lower block's, offset by the skip's full width. Each BatchNorm's running statistics are then
re-estimated on the training images (``recalibrate``): removing a layer's input channels moves the mean
and variance its BN sees, and a fine-tune of a few steps barely moves running statistics (momentum 0.1),
so without this the pruned network is judged, and kept or reverted, on statistics of another network.
``personseg.swap.step`` then fine-tunes it with distillation from the unpruned one.
"""

from __future__ import annotations

import torch
from torch import nn

from personseg.data.prescan import SampleSet
from personseg.data.stream import batches
from personseg.errors import UserError
from personseg.models.pruned import BLOCKS, block_inputs, double_conv, kept, pruned_unet
from personseg.models.unet import UNet


def channel_scores(conv: nn.Conv2d, bn: nn.BatchNorm2d) -> torch.Tensor:
    """Per output channel: L1 norm of the BN-folded filter."""
    scale = bn.weight.detach().abs() / torch.sqrt(bn.running_var + bn.eps)
    return conv.weight.detach().abs().sum(dim=(1, 2, 3)) * scale


def strongest(scores: torch.Tensor, count: int) -> torch.Tensor:
    """Indices of the ``count`` largest scores, in ascending channel order (ties: the lower index)."""
    order = torch.argsort(-scores, stable=True)[:count]
    return torch.sort(order).values


def _take_bn(dst: nn.BatchNorm2d, src: nn.BatchNorm2d, idx: torch.Tensor) -> None:
    for name in ("weight", "bias", "running_mean", "running_var"):
        getattr(dst, name).copy_(getattr(src, name)[idx])
    dst.num_batches_tracked.copy_(src.num_batches_tracked)


def prune_weights(seed: UNet, ratio: float) -> UNet:
    """A ``pruned_unet`` holding ``seed``'s strongest channels (``ratio`` 0 gives the same function)."""
    width = seed.inc.double_conv[0].out_channels
    model = pruned_unet(width=width, ratio=ratio)
    in_ch = seed.inc.double_conv[0].in_channels
    keep = {"image": torch.arange(in_ch)}  # kept output channels per block
    full = {"image": in_ch}  # each block's unpruned output width
    with torch.no_grad():
        for block in BLOCKS:
            old, new = double_conv(seed, block).double_conv, double_conv(model, block).double_conv
            sources = block_inputs()[block]
            offsets = torch.tensor([0] + [full[s] for s in sources[:-1]]).cumsum(0)
            cols = torch.cat([keep[s] + int(off) for s, off in zip(sources, offsets)])
            mid = strongest(channel_scores(old[0], old[1]), kept(old[0].out_channels, ratio))
            out = strongest(channel_scores(old[3], old[4]), kept(old[3].out_channels, ratio))
            new[0].weight.copy_(old[0].weight[mid][:, cols])
            _take_bn(new[1], old[1], mid)
            new[3].weight.copy_(old[3].weight[out][:, mid])
            _take_bn(new[4], old[4], out)
            keep[block], full[block] = out, old[3].out_channels
        model.outc.conv.weight.copy_(seed.outc.conv.weight[:, keep["up4"]])
        model.outc.conv.bias.copy_(seed.outc.conv.bias)
    return model.eval()


def recalibrate(model: nn.Module, data: SampleSet, batch_size: int = 8) -> int:
    """Re-estimate every BatchNorm's running mean and variance on ``data`` (a cumulative average); images seen."""
    norms = [m for m in model.modules() if isinstance(m, nn.BatchNorm2d)]
    momenta = [m.momentum for m in norms]
    for m in norms:
        m.reset_running_stats()
        m.momentum = None
    seen = 0
    model.train()
    try:
        with torch.no_grad():
            for x, _ in batches(data, batch_size):
                model(torch.from_numpy(x))
                seen += len(x)
    finally:
        for m, momentum in zip(norms, momenta):
            m.momentum = momentum
        model.eval()
    if not seen:
        raise UserError("prune: no training images to re-estimate BatchNorm statistics on")
    return seen
