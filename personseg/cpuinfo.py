"""What CPU this is: the one reader of ``/proc/cpuinfo``, so figures and model cards name their machine.

Benchmarks and the evaluate step print a summary (model, the SIMD flags that decide FP32/INT8 speed,
usable cores); the model card keeps every flag of the publishing machine.
"""

from __future__ import annotations

import os
import platform
from dataclasses import dataclass
from pathlib import Path
from typing import Any

PROC_CPUINFO = Path("/proc/cpuinfo")
# The flags that decide FP32/INT8 speed, in the order reports print them.
SPEED_FLAGS = ("avx", "avx2", "fma", "avx512f", "avx512_vnni", "avx_vnni", "amx_int8", "f16c", "sse4_2")


@dataclass(frozen=True)
class CpuInfo:
    """The first CPU listed: its model name and flags (x86 ``flags``, Arm ``Features``)."""

    model: str | None
    flags: frozenset[str]
    readable: bool  # False off Linux or when the file cannot be read

    def summary(self) -> dict[str, Any]:
        """``{"model", "flags", "cores"}`` for reports: the speed flags present, cores this process may use."""
        return {"model": self.model or platform.processor() or platform.machine(),
                "flags": [f for f in SPEED_FLAGS if f in self.flags], "cores": len(os.sched_getaffinity(0))}

    def card(self) -> dict[str, Any] | None:
        """``{"model", "flags" (all, sorted), "count"}`` for a model card; None when nothing could be read."""
        if not self.readable:
            return None
        return {"model": self.model, "flags": sorted(self.flags), "count": os.cpu_count()}


def cpu_info(path: str | Path = PROC_CPUINFO) -> CpuInfo:
    """Read the first CPU's model name and flags from ``path`` (unreadable: an empty, unreadable CpuInfo)."""
    try:
        text = Path(path).read_text()
    except OSError:
        return CpuInfo(None, frozenset(), readable=False)
    model: str | None = None
    flags: frozenset[str] | None = None
    for line in text.splitlines():
        if not line.strip() and model is not None and flags is not None:
            break  # the first CPU's block is complete
        key, _, value = line.partition(":")
        key = key.strip()
        if key == "model name" and model is None:
            model = value.strip()
        elif key in ("flags", "Features") and flags is None:
            flags = frozenset(value.split())
    return CpuInfo(model, flags or frozenset(), readable=True)
