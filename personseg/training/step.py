"""``personseg train``: fit a registered model on a streamed dataset, save the best-on-val-IoU checkpoint.

One process trains alone; ``nproc > 1`` launches that many ranks on this machine (``launch``), and a
process started by torchrun joins its group (``distributed``). Only rank 0 writes the model, the
per-epoch state and the reports. The per-epoch state goes to the checkpoint place (``checkpoints``);
a run started again on the same place continues after its last complete epoch.
"""

from __future__ import annotations

import dataclasses
import json
import logging
from dataclasses import dataclass
from pathlib import Path

import torch

from personseg.atomic import atomic_dir, check_output, write_json
from personseg.cpuquota import cpu_quota, default_threads
from personseg.data.prescan import prescan
from personseg.data.split import split_ids
from personseg.errors import UserError
from personseg.hashing import tree_sha256
from personseg.models import build_model
from personseg.models.checkpoint import save_model
from personseg.training.checkpoints import CheckpointPlace, check_place, resume_point
from personseg.training.config import TrainConfig
from personseg.training.device import Placement, resolve
from personseg.training.distributed import Group, env_group, join, leave
from personseg.training.launch import launch_local
from personseg.training.loop import FitConfig, fit, rank_batch
from personseg.training.state import STATE_FILE, save_state
from personseg.uris import local_dataset

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TrainResult:
    """Where the model went and how good it is."""

    out: Path
    best_val_iou: float
    best_epoch: int
    history: list[dict[str, float]]


def cli_args(cfg: TrainConfig, out: str | Path, resume: str | Path | None = None,
             checkpoint_dir: str | Path | None = None, force: bool = False) -> list[str]:
    """The ``personseg train`` arguments that rebuild ``cfg`` (how ``--nproc`` starts its ranks)."""
    args = ["train", "--out", str(out)]
    for f in dataclasses.fields(cfg):
        value = getattr(cfg, f.name)
        if f.name == "augment":
            args += [] if value else ["--no-augment"]
        elif f.name == "skip_invalid":
            args += ["--skip-invalid"] if value else []
        else:
            args += [f"--{f.name.replace('_', '-')}", str(value)]
    args += ["--resume", str(resume)] if resume else []
    args += ["--force"] if force else []
    return args + (["--checkpoint-dir", str(checkpoint_dir)] if checkpoint_dir else [])


def _launch(cfg: TrainConfig, out: str | Path, resume: str | Path | None,
            checkpoint_dir: str | Path | None, force: bool) -> TrainResult:
    verbose = ["-v"] if logging.getLogger().isEnabledFor(logging.DEBUG) else []
    rank_cfg = dataclasses.replace(cfg, nproc=1)
    launch_local(cfg.nproc, ["-m", "personseg", *verbose, *cli_args(rank_cfg, out, resume, checkpoint_dir, force)],
                 rdzv_timeout_s=cfg.dist_timeout)
    metrics = json.loads((Path(out) / "metrics.json").read_text())
    return TrainResult(Path(out), metrics["val_iou"], metrics["best_epoch"], metrics["history"])


def run(cfg: TrainConfig, out: str | Path, resume: str | Path | None = None,
        checkpoint_dir: str | Path | None = None, force: bool = False) -> TrainResult:
    """Train per ``cfg`` and write a saved-model directory at ``out`` (complete or absent).

    An existing non-empty ``out`` is replaced only with ``force`` (refused before any training).
    """
    cfg.check()
    check_place(str(checkpoint_dir or ""))
    group = env_group()
    if group is None or group.is_main:  # only the writer checks: other nodes never write there
        check_output(out, force, what="--out")
    if group is None and cfg.nproc > 1:
        rank_batch(cfg.batch_size, cfg.nproc)  # refused here, before any rank starts
        return _launch(cfg, out, resume, checkpoint_dir, force)
    if group is not None and cfg.nproc > 1:
        raise UserError(f"--nproc {cfg.nproc}: this process is already rank {group.rank} of {group.world} started "
                        "by torchrun; give the rank count to torchrun (--nproc-per-node) instead")
    group = group or Group()
    placement = resolve(cfg.device, cfg.precision, group.local_rank)
    threads = cfg.threads or max(1, default_threads() // group.local_world)
    torch.set_num_threads(threads)
    workers = cfg.workers if cfg.workers >= 0 else max(0, (cpu_quota() - threads * group.local_world)
                                                       // group.local_world)
    join(group, placement.is_cuda, cfg.dist_timeout)
    try:
        return _train(cfg, out, resume, checkpoint_dir, group, placement, workers, threads, force)
    finally:
        leave()


def _train(cfg: TrainConfig, out: str | Path, resume: str | Path | None, checkpoint_dir: str | Path | None,
           group: Group, placement: Placement, workers: int, threads: int, force: bool) -> TrainResult:
    root = local_dataset(cfg.data)
    data = prescan(root, cfg.size, skip_invalid=cfg.skip_invalid)
    split = split_ids(data.ids, root)  # test is never read here: it is for reporting and the deploy gate
    train_ids, val_ids = split.train, split.val
    if not train_ids or not val_ids:
        raise UserError(f"dataset {cfg.data}: the split has {len(train_ids)} train and {len(val_ids)} val "
                        f"image(s) ({split.source}); training needs both")
    log.debug("dataset %s: %d train, %d val (%d test held out) at %dpx; %s %s, rank %d/%d, %d thread(s), "
             "%d loader worker(s)", cfg.data, len(train_ids), len(val_ids), len(split.test), cfg.size,
             placement.device, cfg.precision, group.rank, group.world, threads, workers)
    arch = {"name": cfg.model, "decoder": cfg.decoder, "width": cfg.width}
    torch.manual_seed(cfg.seed)
    try:
        model = build_model(cfg.model, decoder=cfg.decoder, width=cfg.width)
    except ValueError as exc:
        raise UserError(f"--model/--decoder: {exc}") from None
    place, recipe = CheckpointPlace(str(checkpoint_dir or f"{out}.ckpt")), cfg.recipe()
    state = resume_point(place, model, recipe, resume)
    fit_cfg = FitConfig(cfg.epochs, cfg.batch_size, cfg.lr, cfg.weight_decay, cfg.seed, cfg.augmentation(),
                        workers=workers, skip_invalid=cfg.skip_invalid)
    on_epoch = (lambda s, m: place.save(s, m, recipe)) if group.is_main else None
    state = fit(model, data.subset(train_ids), data.subset(val_ids), fit_cfg, state, on_epoch=on_epoch,
                placement=placement, group=group)
    if group.is_main:
        with atomic_dir(out, force) as tmp:
            extra = {"train": dataclasses.asdict(cfg), "data": {"uri": str(cfg.data), "sha256": tree_sha256(root)},
                     "split": {**split.counts(), "source": split.source},
                     "ranks": group.world, "device": placement.device.type}
            save_model(model, tmp, arch, cfg.size, extra)
            save_state(tmp / STATE_FILE, state, model, recipe)
            write_json(tmp / "metrics.json", {"val_iou": state.best_iou, "best_epoch": state.best_epoch,
                                              "history": state.history})
    return TrainResult(Path(out), state.best_iou, state.best_epoch, state.history)
