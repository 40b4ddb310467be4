"""One training rank's place in a process group, read from torchrun's environment.

A process started by ``torch.distributed.run`` (``personseg train --nproc N`` launches exactly that;
so do Kubeflow Trainer's torch runtime and a hand-run torchrun across machines) finds ``RANK``,
``WORLD_SIZE``, ``LOCAL_RANK``, ``LOCAL_WORLD_SIZE``, ``MASTER_ADDR`` and ``MASTER_PORT`` in its
environment and joins the group through them (gloo on the CPU, nccl on CUDA). The group gets a
timeout, so a rank waiting on a dead peer fails instead of hanging.

``PERSONSEG_FAULT_EXIT="RANK:EPOCH"`` makes that rank exit with code 13 when it starts that epoch: a
seam for the test that a dying rank fails the run; it exists for tests only.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from datetime import timedelta

import torch
import torch.distributed as dist

from personseg.errors import UserError

log = logging.getLogger(__name__)
ENV = ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT")
FAULT_ENV = "PERSONSEG_FAULT_EXIT"
FAULT_EXIT_CODE = 13


@dataclass(frozen=True)
class Group:
    """This process's rank among ``world`` (``local_*``: among the ranks on this machine)."""

    rank: int = 0
    world: int = 1
    local_rank: int = 0
    local_world: int = 1

    @property
    def is_main(self) -> bool:
        """Rank 0: the one that writes the model, the per-epoch state and the reports."""
        return self.rank == 0

    def all_sum(self, values: list[float], device: torch.device) -> list[float]:
        """``values`` summed over every rank (FP64), the same on all of them."""
        if self.world == 1:
            return list(values)
        tensor = torch.tensor(values, dtype=torch.float64, device=device)
        dist.all_reduce(tensor)
        return tensor.tolist()

    def wait_for_all(self) -> None:
        """Return once every rank got here: rank 0's saved state then counts for all of them."""
        if self.world > 1:
            dist.barrier()

    def from_main(self, values: list[float], device: torch.device) -> list[float]:
        """Rank 0's ``values`` on every rank: decisions taken from them cannot differ between ranks."""
        if self.world == 1:
            return list(values)
        tensor = torch.tensor(values, dtype=torch.float64, device=device)
        dist.broadcast(tensor, src=0)
        return tensor.tolist()


def _int_env(name: str, default: str | None = None) -> int:
    value = os.environ.get(name, default)
    try:
        return int(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise UserError(f"environment {name}={value!r}: expected a whole number (set by torchrun)") from None


def env_group() -> Group | None:
    """The group torchrun's environment describes, or None when this process was not launched by it."""
    if not all(name in os.environ for name in ENV):
        return None
    rank, world = _int_env("RANK"), _int_env("WORLD_SIZE")
    local_rank = _int_env("LOCAL_RANK")
    local_world = _int_env("LOCAL_WORLD_SIZE", str(world))
    if not 0 <= rank < world or not 0 <= local_rank < local_world:
        raise UserError(f"environment RANK={rank} WORLD_SIZE={world} LOCAL_RANK={local_rank} "
                        f"LOCAL_WORLD_SIZE={local_world}: rank out of range")
    return Group(rank, world, local_rank, local_world)


def join(group: Group, cuda: bool, timeout_s: float) -> None:
    """Join the process group (nothing to do for a group of one)."""
    if group.world == 1:
        return
    backend = "nccl" if cuda else "gloo"
    dist.init_process_group(backend, timeout=timedelta(seconds=timeout_s))
    log.info("rank %d/%d joined the %s group at %s:%s (timeout %gs)", group.rank, group.world, backend,
             os.environ["MASTER_ADDR"], os.environ["MASTER_PORT"], timeout_s)


def leave() -> None:
    """Leave the process group if this process joined one."""
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def fault_point(group: Group, epoch: int) -> None:
    """Exit here when ``PERSONSEG_FAULT_EXIT`` names this rank and epoch (tests only)."""
    spec = os.environ.get(FAULT_ENV)
    if spec and spec == f"{group.rank}:{epoch}":
        log.error("rank %d: %s=%s, exiting with code %d", group.rank, FAULT_ENV, spec, FAULT_EXIT_CODE)
        os._exit(FAULT_EXIT_CODE)
