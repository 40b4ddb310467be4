"""``personseg train``: load a dataset, fit a registered model, save the best-on-val-IoU checkpoint."""

from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass
from pathlib import Path

import torch

from personseg.atomic import atomic_dir, write_json
from personseg.data.loading import load_dataset
from personseg.data.split import split_ids
from personseg.errors import UserError
from personseg.hashing import tree_sha256
from personseg.models import build_model
from personseg.models.checkpoint import save_model
from personseg.runtime import default_threads
from personseg.training.loop import FitConfig, fit
from personseg.training.state import STATE_FILE, load_state, save_state
from personseg.uris import local_dataset

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TrainConfig:
    """Everything that determines a training run; printed into config.json for reproduction."""

    data: str
    model: str = "unet"
    decoder: str = "bilinear"
    width: int = 32
    size: int = 256
    epochs: int = 20
    batch_size: int = 8
    lr: float = 1e-3
    weight_decay: float = 1e-4
    seed: int = 0
    augment: bool = True
    skip_invalid: bool = False
    threads: int = 0

    def check(self) -> None:
        """Reject values that cannot work, naming the flag."""
        if self.size < 16 or self.size % 16:
            raise UserError(f"--size {self.size}: must be a positive multiple of 16 (the U-Net halves it 4 times)")
        for name in ("width", "epochs", "batch_size"):
            if getattr(self, name) < 1:
                raise UserError(f"--{name.replace('_', '-')} {getattr(self, name)}: must be >= 1")
        if self.lr <= 0:
            raise UserError(f"--lr {self.lr}: must be positive")


@dataclass(frozen=True)
class TrainResult:
    """Where the model went and how good it is."""

    out: Path
    best_val_iou: float
    best_epoch: int
    history: list[dict[str, float]]


def run(cfg: TrainConfig, out: str | Path, resume: str | Path | None = None,
        checkpoint_dir: str | Path | None = None) -> TrainResult:
    """Train per ``cfg`` and write a saved-model directory at ``out`` (complete or absent)."""
    cfg.check()
    torch.set_num_threads(cfg.threads or default_threads())
    root = local_dataset(cfg.data)
    data = load_dataset(root, cfg.size, skip_invalid=cfg.skip_invalid)
    split = split_ids(data.ids, root)  # test is never read here: it is for reporting and the deploy gate
    train_ids, val_ids = split.train, split.val
    if not train_ids or not val_ids:
        raise UserError(f"dataset {cfg.data}: the split has {len(train_ids)} train and {len(val_ids)} val "
                        f"image(s) ({split.source}); training needs both")
    log.info("dataset %s: %d train, %d val (%d test held out) at %dpx", cfg.data, len(train_ids), len(val_ids),
             len(split.test), cfg.size)
    arch = {"name": cfg.model, "decoder": cfg.decoder, "width": cfg.width}
    torch.manual_seed(cfg.seed)
    try:
        model = build_model(cfg.model, decoder=cfg.decoder, width=cfg.width)
    except ValueError as exc:
        raise UserError(f"--model/--decoder: {exc}") from None
    state = load_state(resume, model) if resume else None
    ckpt = Path(checkpoint_dir) if checkpoint_dir else Path(f"{out}.ckpt")
    fit_cfg = FitConfig(cfg.epochs, cfg.batch_size, cfg.lr, cfg.weight_decay, cfg.seed, cfg.augment)
    state = fit(model, data.subset(train_ids), data.subset(val_ids), fit_cfg, state,
                on_epoch=lambda s, m: save_state(ckpt / STATE_FILE, s, m))
    with atomic_dir(out) as tmp:
        extra = {"train": dataclasses.asdict(cfg), "data": {"uri": str(cfg.data), "sha256": tree_sha256(root)},
                 "split": {**split.counts(), "source": split.source}}
        save_model(model, tmp, arch, cfg.size, extra)
        save_state(tmp / STATE_FILE, state, model)
        write_json(tmp / "metrics.json", {"val_iou": state.best_iou, "best_epoch": state.best_epoch,
                                          "history": state.history})
    return TrainResult(Path(out), state.best_iou, state.best_epoch, state.history)
