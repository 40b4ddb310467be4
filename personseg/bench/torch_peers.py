"""FP32 PyTorch stacks: eager (the baseline), channels_last eager, and torch.compile (Inductor)."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from personseg.bench.runner import Logits, padded


def eager(model: nn.Module) -> Logits:
    """PyTorch eager under ``inference_mode``, contiguous NCHW: what ``personseg evaluate`` times."""
    model = model.eval()

    def run(x: np.ndarray) -> np.ndarray:
        with torch.inference_mode():
            return model(torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32))).numpy()

    return run


def channels_last(model: nn.Module) -> Logits:
    """Eager with weights and input in NHWC (channels_last), which oneDNN convolutions prefer."""
    model = model.eval().to(memory_format=torch.channels_last)

    def run(x: np.ndarray) -> np.ndarray:
        with torch.inference_mode():
            t = torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32)).to(memory_format=torch.channels_last)
            return model(t).contiguous().numpy()

    return run


def freeze_inductor() -> None:
    """Inductor freezing: weights become constants, which PT2E INT8 needs to reach oneDNN's INT8 kernels."""
    import torch._inductor.config as inductor

    inductor.freezing = True


def compiled(model: nn.Module, batch: np.ndarray) -> Logits:
    """``torch.compile`` (Inductor, freezing on) compiled on ``batch`` now, so the build step pays it."""
    freeze_inductor()
    fn = torch.compile(model.eval())

    def run(x: np.ndarray) -> np.ndarray:
        with torch.inference_mode():
            return fn(torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32))).numpy()

    run(batch)
    return padded(run, len(batch))
