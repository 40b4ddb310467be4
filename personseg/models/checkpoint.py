"""Save and load PyTorch models as saved-model directories (safetensors: nothing is unpickled)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from torch import nn

from personseg.errors import UserError
from personseg.modeldir import ModelInfo, read_model_dir, write_config

WEIGHTS = "model.safetensors"


def save_model(
    model: nn.Module, directory: str | Path, arch: dict[str, Any], image_size: int, extra: dict[str, Any] | None = None
) -> Path:
    """Write weights and ``config.json`` into ``directory`` (which must exist)."""
    from safetensors.torch import save_file

    state = {k: v.detach().contiguous().cpu() for k, v in model.state_dict().items()}
    save_file(state, str(Path(directory) / WEIGHTS))
    return write_config(
        directory, kind="torch", precision="fp32", weights=WEIGHTS, image_size=image_size, arch=arch, extra=extra
    )


def build_from_arch(arch: dict[str, Any]) -> nn.Module:
    """Instantiate the architecture a config describes (untrained)."""
    from personseg.models import build_model

    params = {k: v for k, v in arch.items() if k != "name"}
    try:
        return build_model(arch.get("name", ""), **params)
    except (TypeError, ValueError) as exc:
        raise UserError(f"config arch {arch}: {exc}") from None


def load_model(directory: str | Path, info: ModelInfo | None = None) -> nn.Module:
    """The model in a saved ``torch`` directory, weights loaded strictly, in eval mode."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    info = info or read_model_dir(directory)
    if info.kind != "torch":
        raise UserError(f"model {directory}: kind is {info.kind!r}; a PyTorch model (kind 'torch') is needed here")
    model = build_from_arch(info.arch)
    try:
        state = load_file(str(info.weights_path))
    except (SafetensorError, OSError) as exc:
        raise UserError(f"model {info.weights_path}: unreadable safetensors file ({exc})") from None
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        first = str(exc).splitlines()[0]
        raise UserError(f"model {info.weights_path}: weights do not match arch {info.arch} ({first})") from None
    return model.eval()
