"""``personseg swap``: turn a trained bilinear U-Net into a transposed-convolution one.

The encoder and every decoder weight carry over. ``exact`` needs no training (bilinear kernels in a
depthwise transposed convolution); ``lean`` starts from a rank-reduced factorisation of each Up block's
first convolution, ``W_up ~= (U S) Vt``: ``Vt`` becomes a 2x2 stride-2 transposed convolution (nearest
upsampling of a channel projection) and ``U S`` the narrower 3x3 convolution after it, then the model is
fine-tuned with distillation from the original. ``prune`` removes a share of every convolution's
channels (``personseg.swap.prune``) and is fine-tuned the same way.
"""

from __future__ import annotations

import dataclasses
import logging
from pathlib import Path

import torch
from torch import nn

from personseg.atomic import atomic_dir, check_output, write_json
from personseg.cpuquota import default_threads
from personseg.data.augment import AugmentConfig
from personseg.data.prescan import prescan
from personseg.data.split import split_ids
from personseg.errors import UserError
from personseg.hashing import tree_sha256
from personseg.modeldir import ModelInfo, read_model_dir
from personseg.models.checkpoint import load_model, save_model
from personseg.models.swapped import swapped_unet
from personseg.models.unet import UNet
from personseg.swap.config import SwapConfig
from personseg.swap.prune import prune_weights, recalibrate
from personseg.training.loop import FitConfig, fit, validate
from personseg.uris import local_dataset, local_model

log = logging.getLogger(__name__)


def _lean_init(up: nn.Module, old_first: torch.Tensor, reduced: int) -> None:
    """Factor the upsampled half of ``old_first`` (M, 2C, 3, 3) into ConvT(C->r) + Conv3x3(r->M)."""
    m, two_c = old_first.shape[:2]
    c = two_c // 2
    w_up = old_first[:, c:].permute(0, 2, 3, 1).reshape(m * 9, c)  # rows: (out, ky, kx); cols: in channel
    u, s, vt = torch.linalg.svd(w_up, full_matrices=False)
    left = (u[:, :reduced] * s[:reduced]).reshape(m, 3, 3, reduced).permute(0, 3, 1, 2)
    with torch.no_grad():
        up.up.weight.copy_(vt[:reduced].t()[:, :, None, None].expand(c, reduced, 2, 2))
        up.conv.double_conv[0].weight.copy_(torch.cat([old_first[:, :c], left], dim=1))


def swap_weights(seed: UNet, design: str, squeeze: int, ratio: float = 0.0) -> UNet:
    """A swapped model carrying ``seed``'s weights (function-preserving for ``exact``)."""
    if design == "prune":
        return prune_weights(seed, ratio)
    width = seed.inc.double_conv[0].out_channels
    new = swapped_unet(width=width, design=design, squeeze=squeeze)
    old_state = seed.state_dict()
    new_state = new.state_dict()
    for key, value in old_state.items():
        if key in new_state and new_state[key].shape == value.shape:
            new_state[key] = value.clone()
    new.load_state_dict(new_state)
    if design == "lean":
        for up_new, up_old in zip(new.ups(), seed.ups()):
            _lean_init(up_new, up_old.conv.double_conv[0].weight.detach(), up_new.up.out_channels)
    return new


def seed_augmentation(info: ModelInfo) -> AugmentConfig:
    """The seed's own training augmentation (compositing and its backgrounds, photometric): fine-tuning sees it too."""
    train = info.extra.get("train") or {}
    if not train.get("augment", True):
        return AugmentConfig()
    return AugmentConfig(composite=float(train.get("composite", 0.0)), photometric=float(train.get("photometric", 0.0)),
                         background_hue=float(train.get("background_hue", 0.0)),
                         backgrounds=str(train.get("backgrounds", "")))


def run(cfg: SwapConfig, out: str | Path, force: bool = False) -> dict:
    """Swap the model at ``cfg.model``, fine-tune, and save it at ``out``; returns the report dict."""
    check_output(out, force)
    cfg.check()
    torch.set_num_threads(default_threads())
    src = local_model(cfg.model)
    info = read_model_dir(src)
    if info.kind != "torch" or info.arch.get("name") != "unet" or info.arch.get("decoder") != "bilinear":
        raise UserError(f"--model {cfg.model}: the swap takes a PyTorch 'unet' with the bilinear decoder, got "
                        f"{info.kind} {info.arch}")
    seed_model = load_model(src, info)
    try:
        model = swap_weights(seed_model, cfg.design, cfg.squeeze, cfg.ratio)
    except ValueError as exc:
        raise UserError(f"--squeeze {cfg.squeeze}: {exc}") from None
    root = local_dataset(cfg.data)
    data = prescan(root, info.image_size)  # paths only: fine-tuning and validation stream the images
    split = split_ids(data.ids, root)  # the revert decision reads val; test stays unseen
    train, val = data.subset(split.train), data.subset(split.val)
    if not split.train or not split.val:
        raise UserError(f"--data {cfg.data}: the swap needs train and val images; the split has "
                        f"{split.counts()}")
    if cfg.design == "prune":
        recalibrate(model, train, cfg.batch_size)
    before = validate(seed_model, val)["iou"]
    at_swap = validate(model, val)["iou"]
    log.info("swap %s: val IoU bilinear %.4f, swapped before fine-tuning %.4f", cfg.design, before, at_swap)
    state, fine_tune = None, "none"
    if cfg.epochs > 0:
        fit_cfg = FitConfig(epochs=cfg.epochs, batch_size=cfg.batch_size, lr=cfg.lr, seed=cfg.seed,
                            augment=seed_augmentation(info))
        state = fit(model, train, val, fit_cfg, teacher=seed_model if cfg.distill else None)
        fine_tune = "kept"
        if state.best_iou < at_swap:  # fine-tuning must never leave the model worse than the swap itself
            model = swap_weights(seed_model, cfg.design, cfg.squeeze, cfg.ratio)
            if cfg.design == "prune":
                recalibrate(model, train, cfg.batch_size)
            fine_tune = "reverted"
    after = validate(model, val)["iou"]
    arch = {"name": "unet-swapped", "width": info.arch["width"], "design": cfg.design, "squeeze": cfg.squeeze}
    if cfg.design == "prune":
        arch = {"name": "unet-pruned", "width": info.arch["width"], "ratio": cfg.ratio}
    report = {"design": cfg.design, "squeeze": cfg.squeeze, "ratio": cfg.ratio, "val_iou_bilinear": before,
              "val_iou_swapped_initial": at_swap, "val_iou_swapped": after, "fine_tune": fine_tune,
              "history": state.history if state else []}
    with atomic_dir(out, force) as tmp:
        extra = {"swap": dataclasses.asdict(cfg), "source": {"uri": str(cfg.model), "arch": info.arch},
                 "data": {"uri": str(cfg.data), "sha256": tree_sha256(root)}}
        save_model(model, tmp, arch, info.image_size, extra)
        write_json(tmp / "metrics.json", {"val_iou": after, **report})
    return report
