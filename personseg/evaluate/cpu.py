"""What CPU a benchmark ran on, so figures always travel with their machine."""

from __future__ import annotations

import os
import platform
from pathlib import Path

INTERESTING_FLAGS = ("avx", "avx2", "fma", "avx512f", "avx512_vnni", "avx_vnni", "amx_int8", "f16c", "sse4_2")


def cpu_info() -> dict[str, object]:
    """CPU model name, the SIMD flags that matter for FP32/INT8 speed, and usable cores."""
    model, flags = platform.processor() or platform.machine(), set()
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.is_file():
        for line in cpuinfo.read_text().splitlines():
            key, _, value = line.partition(":")
            if key.strip() == "model name":
                model = value.strip()
            elif key.strip() == "flags":
                flags = set(value.split())
    return {"model": model, "flags": [f for f in INTERESTING_FLAGS if f in flags],
            "cores": len(os.sched_getaffinity(0))}
