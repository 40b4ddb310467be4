"""Where and in what precision training runs: one code path for CPU and CUDA.

``--device auto`` takes CUDA when torch sees it, else the CPU (and says so once). ``--precision``
bf16/fp16 run the forward pass under autocast; weights, optimiser state and checkpoints stay FP32.
Only fp16 needs loss scaling (bf16 has FP32's exponent range), and fp16 autocast is a CUDA feature:
on the CPU it is refused, naming the flag. Activations use the channels_last memory format, which
oneDNN on the CPU and cuDNN on the GPU run faster for convolutions.
"""

from __future__ import annotations

import logging
from contextlib import AbstractContextManager
from dataclasses import dataclass

import torch

from personseg.errors import UserError

log = logging.getLogger(__name__)
DEVICES = ("auto", "cpu", "cuda")
PRECISIONS = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}


@dataclass(frozen=True)
class Placement:
    """A device and an autocast precision."""

    device: torch.device = torch.device("cpu")
    precision: str = "fp32"

    @property
    def is_cuda(self) -> bool:
        """True on a GPU (pinned host memory and the nccl backend then apply)."""
        return self.device.type == "cuda"

    def autocast(self) -> AbstractContextManager:
        """The autocast context of this precision (a no-op for fp32)."""
        return torch.autocast(self.device.type, dtype=PRECISIONS[self.precision], enabled=self.precision != "fp32")

    def grad_scaler(self) -> torch.amp.GradScaler:
        """Loss scaling for fp16 on CUDA; a pass-through otherwise."""
        return torch.amp.GradScaler(self.device.type, enabled=self.precision == "fp16" and self.is_cuda)

    def inputs(self, batch: torch.Tensor) -> torch.Tensor:
        """An image batch on this device in channels_last layout."""
        return batch.to(self.device, non_blocking=True).contiguous(memory_format=torch.channels_last)

    def model(self, model: torch.nn.Module) -> torch.nn.Module:
        """``model`` moved here (in place) in channels_last layout."""
        return model.to(self.device, memory_format=torch.channels_last)


def resolve(device: str = "auto", precision: str = "fp32", local_rank: int = 0) -> Placement:
    """The placement ``--device``/``--precision`` ask for; impossible requests name their flag."""
    if device not in DEVICES:
        raise UserError(f"--device {device!r}: expected one of {', '.join(DEVICES)}")
    if precision not in PRECISIONS:
        raise UserError(f"--precision {precision!r}: expected one of {', '.join(PRECISIONS)}")
    available = torch.cuda.is_available()
    if device == "cuda" and not available:
        raise UserError("--device cuda: torch sees no CUDA device here (torch.cuda.is_available() is False); "
                        "use --device cpu or auto")
    if device == "auto":
        device = "cuda" if available else "cpu"
        if not available:
            log.debug("--device auto: no CUDA device, training on the CPU")
    if device == "cuda":
        torch.cuda.set_device(local_rank)
        placed = torch.device("cuda", local_rank)
    else:
        placed = torch.device("cpu")
    if precision == "fp16" and placed.type != "cuda":
        raise UserError("--precision fp16: needs --device cuda (fp16 autocast and loss scaling are GPU features); "
                        "on the CPU use --precision bf16 or fp32")
    return Placement(placed, precision)
