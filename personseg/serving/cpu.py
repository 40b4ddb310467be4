"""How many CPUs this process may really use: affinity mask and cgroup quota, whichever is smaller.

``os.cpu_count()`` reports the host's cores; in a container limited to ``cpu: 2`` on a 64-core node,
64 inference threads would thrash. Kubernetes limits show up as a cgroup CPU quota.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

CGROUP_V2_MAX = Path("/sys/fs/cgroup/cpu.max")
CGROUP_V1_QUOTA = Path("/sys/fs/cgroup/cpu/cpu.cfs_quota_us")
CGROUP_V1_PERIOD = Path("/sys/fs/cgroup/cpu/cpu.cfs_period_us")


def _read(path: Path) -> str | None:
    try:
        return path.read_text().strip()
    except OSError:
        return None


def cgroup_cpu_limit(v2_max: Path = CGROUP_V2_MAX, v1_quota: Path = CGROUP_V1_QUOTA,
                     v1_period: Path = CGROUP_V1_PERIOD) -> float | None:
    """The cgroup CPU quota in CPUs (e.g. 1.5), or None when unlimited or not in a cgroup."""
    text = _read(v2_max)
    if text:
        quota, _, period = text.partition(" ")
        if quota != "max" and period:
            return int(quota) / int(period)
        return None
    quota_text, period_text = _read(v1_quota), _read(v1_period)
    if quota_text and period_text and int(quota_text) > 0:
        return int(quota_text) / int(period_text)
    return None


def cpu_quota() -> int:
    """Whole CPUs available: the affinity mask, capped by the cgroup quota rounded up, at least 1."""
    cpus = len(os.sched_getaffinity(0))
    limit = cgroup_cpu_limit()
    if limit is not None:
        cpus = min(cpus, math.ceil(limit))
    return max(1, cpus)
