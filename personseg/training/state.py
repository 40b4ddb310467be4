"""Resumable training state on disk, loaded with ``weights_only=True`` (no arbitrary unpickling).

Every tensor is saved on the CPU and nothing in it depends on the rank or the number of ranks, so
a state written on any device, by any number of ranks, resumes on a CPU-only machine with any number.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch
from torch import nn

from personseg.errors import UserError
from personseg.modeldir import STATE_FILE
from personseg.training.loop import FitState, cpu_copy


def save_state(path: str | Path, state: FitState, model: nn.Module, recipe: dict[str, Any] | None = None) -> None:
    """Write the state (and the model's current weights, on the CPU) atomically; ``recipe`` says what made it."""
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
            "recipe": recipe or {},
        },
        tmp,
    )
    tmp.replace(path)


def load_state(path: str | Path, model: nn.Module, recipe: dict[str, Any] | None = None,
               where: str | None = None) -> FitState:
    """Restore a state into ``model`` and return it; ``path`` is the file or a directory holding it.

    With ``recipe``, a state written by a run with other settings is refused, naming them; ``where``
    names the state in messages when ``path`` is a local copy of it.
    """
    path = Path(path)
    if path.is_dir():
        path = path / STATE_FILE
    where = where or str(path)
    if not path.is_file():
        raise UserError(f"resume {where}: no training state file ({STATE_FILE})")
    try:
        data = torch.load(path, weights_only=True, map_location="cpu")
        if recipe is not None and data.get("recipe") != recipe:
            theirs = data.get("recipe") or {}
            differ = sorted(k for k in set(recipe) | set(theirs) if recipe.get(k) != theirs.get(k))
            raise UserError(f"{where} holds the state of another training (different {', '.join(differ)}); "
                            "choose another checkpoint place or remove that state")
        model.load_state_dict(data["model"])
    except (RuntimeError, KeyError, EOFError, OSError) as exc:
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise UserError(f"resume {where}: not a matching training state ({first})") from None
    # states written before streaming also hold "rng": nothing random is carried now (see training.loop)
    return FitState(data["epoch"], data["best_iou"], data["best_epoch"], data["best_state"], list(data["history"]),
                    data["optimizer"])
