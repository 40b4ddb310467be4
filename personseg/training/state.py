"""Resumable training state on disk, loaded with ``weights_only=True`` (no arbitrary unpickling).

Every tensor is saved on the CPU and nothing in it depends on the rank or the number of ranks, so
a state written on any device, by any number of ranks, resumes on a CPU-only machine with any number.
"""

from __future__ import annotations

import os
from pathlib import Path

import torch
from torch import nn

from personseg.errors import UserError
from personseg.training.loop import FitState, cpu_copy

STATE_FILE = "train_state.pt"


def save_state(path: str | Path, state: FitState, model: nn.Module) -> None:
    """Write the state (and the model's current weights, on the CPU) atomically."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    torch.save(
        {
            "epoch": state.epoch,
            "best_iou": state.best_iou,
            "best_epoch": state.best_epoch,
            "best_state": cpu_copy(state.best_state),
            "history": state.history,
            "optimizer": cpu_copy(state.optimizer),
            "model": cpu_copy(model.state_dict()),
        },
        tmp,
    )
    tmp.replace(path)


def load_state(path: str | Path, model: nn.Module) -> FitState:
    """Restore a state into ``model`` and return it; ``path`` is the file or a directory holding it."""
    path = Path(path)
    if path.is_dir():
        path = path / STATE_FILE
    if not path.is_file():
        raise UserError(f"resume {path}: no training state file ({STATE_FILE})")
    try:
        data = torch.load(path, weights_only=True, map_location="cpu")
        model.load_state_dict(data["model"])
    except (RuntimeError, KeyError, EOFError, OSError) as exc:
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise UserError(f"resume {path}: not a matching training state ({first})") from None
    # states written before streaming also hold "rng": nothing random is carried now (see training.loop)
    return FitState(data["epoch"], data["best_iou"], data["best_epoch"], data["best_state"], list(data["history"]),
                    data["optimizer"])
