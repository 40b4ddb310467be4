"""The fit loop: seeded shuffling and augmentation, per-epoch loss/val IoU/time, best-on-val-IoU.

Shared by ``personseg train`` and the swap's fine-tuning (which passes a teacher to distil from).
"""

from __future__ import annotations

import copy
import logging
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn

from personseg.data.augment import AugmentConfig, augment
from personseg.data.loading import LoadedData
from personseg.metrics import mean_scores
from personseg.training.loss import distill_loss, seg_loss

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class FitConfig:
    """Optimisation settings of one fit."""

    epochs: int = 20
    batch_size: int = 8
    lr: float = 1e-3
    weight_decay: float = 1e-4
    seed: int = 0
    augment: bool = True
    distill_weight: float = 0.5


@dataclass
class FitState:
    """Everything needed to resume: epoch reached, best score, history, optimiser and RNG state."""

    epoch: int = 0
    best_iou: float = -1.0
    best_epoch: int = 0
    best_state: dict[str, torch.Tensor] | None = None
    history: list[dict[str, float]] = field(default_factory=list)
    optimizer: dict | None = None
    rng: torch.Tensor | None = None


def to_tensors(data: LoadedData) -> tuple[torch.Tensor, torch.Tensor]:
    """Images (N, 3, S, S) float in [0, 1] and labels (N, 1, S, S) uint8."""
    images = torch.from_numpy(data.images).permute(0, 3, 1, 2).float().div_(255.0)
    return images, torch.from_numpy(data.labels)[:, None]


@torch.inference_mode()
def predict_logits(model: nn.Module, images: torch.Tensor, batch_size: int = 8) -> torch.Tensor:
    """Logits for all ``images`` in eval mode."""
    model.eval()
    return torch.cat([model(images[i : i + batch_size]) for i in range(0, len(images), batch_size)])


def validate(model: nn.Module, data: LoadedData, boundary: bool = False) -> dict[str, float]:
    """Mean IoU/Dice (and boundary F) of ``model`` on ``data``."""
    images, _ = to_tensors(data)
    preds = (predict_logits(model, images) > 0).squeeze(1).numpy()
    return mean_scores(preds, data.labels, boundary=boundary)


def fit(
    model: nn.Module,
    train: LoadedData,
    val: LoadedData,
    cfg: FitConfig,
    state: FitState | None = None,
    teacher: nn.Module | None = None,
    on_epoch: Callable[[FitState, nn.Module], None] | None = None,
) -> FitState:
    """Train ``model`` in place for ``cfg.epochs`` epochs (continuing ``state``); return the state."""
    torch.manual_seed(cfg.seed)
    state = state or FitState()
    gen = torch.Generator().manual_seed(cfg.seed)
    if state.rng is not None:
        gen.set_state(state.rng)
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=max(1, cfg.epochs), last_epoch=-1)
    if state.optimizer is not None:
        opt.load_state_dict(state.optimizer)
    with warnings.catch_warnings():  # fast-forwarding the schedule on resume, before any optimizer step
        warnings.simplefilter("ignore", UserWarning)
        for _ in range(state.epoch):
            sched.step()
    images, labels = to_tensors(train)
    aug_cfg = AugmentConfig() if cfg.augment else AugmentConfig(flip=0, scale_min=1, scale_max=1, brightness=0,
                                                                  contrast=0, saturation=0)
    if teacher is not None:
        teacher.eval()
    for epoch in range(state.epoch + 1, cfg.epochs + 1):
        start = time.perf_counter()
        model.train()
        order = torch.randperm(len(images), generator=gen)
        losses = []
        for i in range(0, len(order), cfg.batch_size):
            idx = order[i : i + cfg.batch_size]
            if len(idx) < 2 and len(order) > 1:
                continue  # BatchNorm needs more than one sample
            x, y = augment(images[idx], labels[idx], aug_cfg, gen)
            logits = model(x)
            loss = seg_loss(logits, y)
            if teacher is not None:
                with torch.no_grad():
                    target = teacher(x)
                loss = (1 - cfg.distill_weight) * loss + cfg.distill_weight * distill_loss(logits, target)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            losses.append(loss.item())
        sched.step()
        scores = validate(model, val)
        row = {"epoch": epoch, "loss": float(np.mean(losses)) if losses else float("nan"), "val_iou": scores["iou"],
               "seconds": time.perf_counter() - start}
        state.history.append(row)
        state.epoch = epoch
        if scores["iou"] > state.best_iou:
            state.best_iou, state.best_epoch = scores["iou"], epoch
            state.best_state = copy.deepcopy(model.state_dict())
        state.optimizer = opt.state_dict()
        state.rng = gen.get_state()
        log.info("epoch %d/%d  loss %.4f  val IoU %.4f  %.1fs", epoch, cfg.epochs, row["loss"], row["val_iou"],
                 row["seconds"])
        if on_epoch is not None:
            on_epoch(state, model)
    if state.best_state is not None:
        model.load_state_dict(state.best_state)
    return state
