"""How much memory this process may use: the cgroup memory limit (a Kubernetes pod's ``limits.memory``).

Kubernetes writes a container's memory limit to its cgroup: v2 ``memory.max`` (``max`` for none), v1
``memory/memory.limit_in_bytes`` (a number near 2**63 for none). The server derives its in-flight
memory budget from it (``personseg.serving.admission``). ``PERSONSEG_CGROUP_ROOT`` replaces
``/sys/fs/cgroup`` as in ``personseg.cpuquota``.
"""

from __future__ import annotations

import os
from pathlib import Path

from personseg.cpuquota import CGROUP_ROOT, ROOT_ENV

UNLIMITED_V1 = 1 << 60  # cgroup v1 reports "no limit" as the largest page-aligned 64-bit number


def _read_int(path: Path) -> int | None:
    try:
        text = path.read_text().strip()
    except OSError:
        return None
    return int(text) if text.isdigit() else None


def cgroup_memory_limit(root: str | Path | None = None) -> int | None:
    """The cgroup memory limit in bytes, or None when unlimited or not in a cgroup."""
    root = Path(root or os.environ.get(ROOT_ENV) or CGROUP_ROOT)
    v2 = _read_int(root / "memory.max")
    if v2 is not None:
        return v2
    v1 = _read_int(root / "memory" / "memory.limit_in_bytes")
    return v1 if v1 is not None and v1 < UNLIMITED_V1 else None


def process_rss() -> int:
    """This process's resident memory in bytes (Linux ``/proc/self/statm``)."""
    pages = int(Path("/proc/self/statm").read_text().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE")
