"""The fit loop: streamed, seeded batches; per-epoch loss/val IoU/time; best-on-val-IoU.

Shared by ``personseg train`` (one rank or several) and the swap's fine-tuning (which passes a teacher
to distil from). Sample order comes from (seed, epoch) through a ``DistributedSampler`` (one replica
when training alone) and augmentation from (seed, epoch, index), so nothing random is carried in the
state: a run resumed at epoch k, with any number of ranks, sees the samples an unbroken run would.
``--batch-size`` is the global batch: each of N ranks takes ``ceil(batch / N)``, which must be at least 2
(BatchNorm needs two samples; a batch of one is skipped), and an epoch without a single optimizer step
is an error, never a "trained" model. With several ranks BatchNorm is synchronised across them
(``sync_batchnorm``) where PyTorch can: on CUDA.
"""

from __future__ import annotations

import copy
import logging
import math
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field

import torch
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data.distributed import DistributedSampler

from personseg.console.progress import clear as clear_progress
from personseg.console.progress import progress
from personseg.data.augment import AugmentConfig
from personseg.data.prescan import SampleSet
from personseg.data.stream import EpochSampler, StreamDataset, check_errors, make_loader, shard
from personseg.errors import UserError
from personseg.quality import boundary_f, dice, iou
from personseg.training.device import Placement
from personseg.training.distributed import Group, fault_point
from personseg.training.loss import distill_loss, seg_loss

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class FitConfig:
    """Optimisation and data-loading settings of one fit."""

    epochs: int = 20
    batch_size: int = 8
    lr: float = 1e-3
    weight_decay: float = 1e-4
    seed: int = 0
    augment: AugmentConfig | None = field(default_factory=AugmentConfig)  # None: no augmentation
    distill_weight: float = 0.5
    workers: int = 0
    skip_invalid: bool = False


@dataclass
class FitState:
    """Everything needed to resume: epoch reached, best score, history and optimiser state (all on CPU)."""

    epoch: int = 0
    best_iou: float = -1.0
    best_epoch: int = 0
    best_state: dict[str, torch.Tensor] | None = None
    history: list[dict[str, float]] = field(default_factory=list)
    optimizer: dict | None = None


MIN_RANK_BATCH = 2


def rank_batch(batch_size: int, world: int) -> int:
    """Each rank's share of the global ``batch_size``; an error naming both when it is under 2."""
    per_rank = math.ceil(batch_size / world)
    if per_rank < MIN_RANK_BATCH:
        raise UserError(f"--batch-size {batch_size} over {world} ranks gives {per_rank} image per rank; BatchNorm "
                        f"needs at least {MIN_RANK_BATCH}, so no optimizer step would run: use --batch-size >= "
                        f"{MIN_RANK_BATCH * world} or at most {batch_size // MIN_RANK_BATCH} ranks")
    return per_rank


def sync_batchnorm(model: nn.Module, group: Group, placement: Placement) -> nn.Module:
    """``model`` with BatchNorm synchronised over the ranks, where PyTorch supports it.

    ``torch.nn.SyncBatchNorm`` refuses CPU tensors (torch 2.13 ``SyncBatchNorm.forward``: "expected input
    tensor to be on GPU"), so ranks on CPUs keep per-rank statistics; ``rank_batch`` guarantees each
    rank at least 2 images per batch.
    """
    if group.world == 1 or not placement.is_cuda:
        return model
    return nn.SyncBatchNorm.convert_sync_batchnorm(model)


def cpu_copy(obj: object) -> object:
    """``obj`` with every tensor copied to the CPU (contiguous): checkpoints are device-neutral."""
    if isinstance(obj, torch.Tensor):
        return obj.detach().to("cpu", copy=True).contiguous()
    if isinstance(obj, dict):
        return {k: cpu_copy(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return type(obj)(cpu_copy(v) for v in obj)
    return copy.deepcopy(obj)


@torch.inference_mode()
def validate(model: nn.Module, data: SampleSet, boundary: bool = False, batch_size: int = 8, workers: int = 0,
             placement: Placement | None = None, group: Group | None = None,
             skip_invalid: bool = False) -> dict[str, float]:
    """Mean IoU/Dice (and boundary F) of ``model`` on ``data``, streamed in batches.

    With several ranks each scores a disjoint shard, the per-image sums are all-reduced and rank 0's
    result is broadcast, so every rank returns the same figures.
    """
    placement, group = placement or Placement(), group or Group()
    model.eval()
    loader = make_loader(StreamDataset(data), shard(len(data.samples), group.rank, group.world), batch_size,
                         workers, placement.is_cuda)
    sums = [0.0, 0.0, 0.0, 0.0]  # iou, dice, boundary F, images
    for x, y, _, errors in loader:
        check_errors(errors, skip_invalid)
        with placement.autocast():
            logits = model(placement.inputs(x))
        preds = (logits.float() > 0).squeeze(1).cpu().numpy()
        for pred, truth, error in zip(preds, y.squeeze(1).numpy(), errors):
            if not error:
                sums = [sums[0] + iou(pred, truth), sums[1] + dice(pred, truth),
                        sums[2] + (boundary_f(pred, truth) if boundary else 0.0), sums[3] + 1]
    sums = group.from_main(group.all_sum(sums, placement.device), placement.device)
    n = max(sums[3], 1.0)
    scores = {"iou": sums[0] / n, "dice": sums[1] / n}
    if boundary:
        scores["boundary_f"] = sums[2] / n
    return scores


def _log_samples(group: Group, epoch: int, data: SampleSet, indices: list[int]) -> None:
    if log.isEnabledFor(logging.DEBUG):
        log.debug("rank %d epoch %d samples %s", group.rank, epoch, ",".join(data.samples[i].id for i in indices))


@dataclass
class _Run:
    """What every epoch of one ``fit`` uses: the model (and its DDP wrapper), the optimizer and the loader."""

    model: nn.Module
    net: nn.Module
    opt: torch.optim.Optimizer
    sched: torch.optim.lr_scheduler.LRScheduler
    scaler: torch.amp.GradScaler
    dataset: StreamDataset
    sampler: EpochSampler
    loader: torch.utils.data.DataLoader
    teacher: nn.Module | None
    per_rank: int


def _optimizer(model: nn.Module, cfg: FitConfig,
               state: FitState) -> tuple[torch.optim.Optimizer, torch.optim.lr_scheduler.LRScheduler]:
    """AdamW under a cosine schedule, restored from ``state`` and fast-forwarded to its epoch."""
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=max(1, cfg.epochs), last_epoch=-1)
    if state.optimizer is not None:
        opt.load_state_dict(state.optimizer)  # moves the state onto the parameters' device
        for group_ in opt.param_groups:  # the schedule is recursive: replay it from the start, as a run did
            group_["lr"] = group_["initial_lr"]
    with warnings.catch_warnings():  # fast-forwarding the schedule on resume, before any optimizer step
        warnings.simplefilter("ignore", UserWarning)
        for _ in range(state.epoch):
            sched.step()
    return opt, sched


def _prepare(model: nn.Module, train: SampleSet, cfg: FitConfig, state: FitState, teacher: nn.Module | None,
             placement: Placement, group: Group) -> _Run:
    """Place the model (DDP across ranks), build its optimizer and this rank's shard of the training set."""
    per_rank = rank_batch(cfg.batch_size, group.world) if len(train.samples) > 1 else 1
    model = sync_batchnorm(model, group, placement)
    placement.model(model)
    net = DistributedDataParallel(model, device_ids=[placement.device] if placement.is_cuda else None) \
        if group.world > 1 else model
    opt, sched = _optimizer(model, cfg, state)
    scaler = placement.grad_scaler()
    dataset = StreamDataset(train, cfg.augment, cfg.seed)
    sampler = EpochSampler(DistributedSampler(dataset, num_replicas=group.world, rank=group.rank, shuffle=True,
                                              seed=cfg.seed))
    loader = make_loader(dataset, sampler, per_rank, cfg.workers, placement.is_cuda)
    if teacher is not None:
        placement.model(teacher).eval()
    return _Run(model, net, opt, sched, scaler, dataset, sampler, loader, teacher, per_rank)


def _step(run: _Run, x: torch.Tensor, y: torch.Tensor, cfg: FitConfig, placement: Placement) -> float:
    """One optimizer step on a batch (distilled from the teacher when there is one); returns its loss."""
    x, y = placement.inputs(x), y.to(placement.device, non_blocking=True)
    with placement.autocast():
        logits = run.net(x)
        target = None
        if run.teacher is not None:
            with torch.no_grad():
                target = run.teacher(x)
    loss = seg_loss(logits.float(), y)
    if target is not None:
        loss = (1 - cfg.distill_weight) * loss + cfg.distill_weight * distill_loss(logits.float(), target.float(), y)
    run.opt.zero_grad(set_to_none=True)
    run.scaler.scale(loss).backward()
    run.scaler.step(run.opt)
    run.scaler.update()
    return loss.item()


def _train_epoch(run: _Run, train: SampleSet, cfg: FitConfig, placement: Placement, group: Group,
                 epoch: int) -> tuple[float, float]:
    """One pass over this rank's shard; returns the loss summed over every rank's batches, and their count."""
    run.sampler.set_epoch(epoch)
    run.net.train()
    loss_sum, batches, skipped, seen = 0.0, 0, 0, []
    for x, y, idx, errors in run.loader:
        skipped += check_errors(errors, cfg.skip_invalid)
        seen += idx.tolist()
        if len(idx) < 2 and len(run.dataset) > 1:
            continue  # BatchNorm needs more than one sample (batch sizes are equal on every rank)
        loss_sum, batches = loss_sum + _step(run, x, y, cfg, placement), batches + 1
        if group.is_main:
            progress("epoch", epoch, cfg.epochs, f"batch {batches}/{len(run.loader)}  loss {loss_sum / batches:.4f}")
    _log_samples(group, epoch, train, seen)
    loss_sum, batches, skipped = group.all_sum([loss_sum, batches, skipped], placement.device)
    if not batches:
        raise UserError(f"epoch {epoch}: no optimizer step ran ({len(train.samples)} training image(s), "
                        f"{run.per_rank} per batch on each of {group.world} rank(s)); nothing was trained")
    run.sched.step()
    if skipped:
        log.warning("epoch %d: %d sample(s) failed to decode and were masked out (--skip-invalid)", epoch,
                    int(skipped))
    return loss_sum, batches


def _record(state: FitState, run: _Run, row: dict) -> None:
    """Note the epoch in ``state``: its row, the best weights so far, the optimizer to resume from."""
    state.history.append(row)
    state.epoch = row["epoch"]
    if row["val_iou"] > state.best_iou:
        state.best_iou, state.best_epoch = row["val_iou"], row["epoch"]
        state.best_state = cpu_copy(run.model.state_dict())
    state.optimizer = cpu_copy(run.opt.state_dict())


def fit(
    model: nn.Module,
    train: SampleSet,
    val: SampleSet,
    cfg: FitConfig,
    state: FitState | None = None,
    teacher: nn.Module | None = None,
    on_epoch: Callable[[FitState, nn.Module], None] | None = None,
    placement: Placement | None = None,
    group: Group | None = None,
) -> FitState:
    """Train ``model`` in place for ``cfg.epochs`` epochs (continuing ``state``); return the state."""
    placement, group = placement or Placement(), group or Group()
    torch.manual_seed(cfg.seed)
    state = state or FitState()
    run = _prepare(model, train, cfg, state, teacher, placement, group)
    for epoch in range(state.epoch + 1, cfg.epochs + 1):
        fault_point(group, epoch)
        start = time.perf_counter()
        loss_sum, batches = _train_epoch(run, train, cfg, placement, group, epoch)
        scores = validate(run.model, val, workers=cfg.workers, placement=placement, group=group,
                          skip_invalid=cfg.skip_invalid)
        row = {"epoch": epoch, "loss": loss_sum / batches if batches else float("nan"), "val_iou": scores["iou"],
               "seconds": time.perf_counter() - start}
        _record(state, run, row)
        clear_progress()
        log.log(logging.INFO if group.is_main else logging.DEBUG, "epoch %d/%d  loss %.4f  val IoU %.4f  %.1fs",
                epoch, cfg.epochs, row["loss"], row["val_iou"], row["seconds"])
        if on_epoch is not None:
            on_epoch(state, run.model)
        group.wait_for_all()  # no rank starts the next epoch before this one's state is saved
    if state.best_state is not None:
        run.model.load_state_dict(state.best_state)
    return state
