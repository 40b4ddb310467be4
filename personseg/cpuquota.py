"""How many CPUs this process may really use: the affinity mask capped by the cgroup CPU quota.

The affinity mask and ``os.cpu_count()`` show the node's cores: a pod limited to ``cpu: 2`` on a
64-core node still sees 64, and 64 ONNX Runtime or torch threads on two CPUs' worth of quota are
throttled, slower than two. Kubernetes limits appear as a cgroup quota: v2 ``cpu.max``
(``"200000 100000"``, or ``"max 100000"`` for none), v1 ``cpu/cpu.cfs_quota_us`` over
``cpu/cpu.cfs_period_us`` (quota -1 for none). A fractional quota rounds down (1.5 CPUs -> 1
thread), as ``personseg deploy`` derives ``PERSONSEG_THREADS`` from the CPU limit.

``PERSONSEG_CGROUP_ROOT`` replaces ``/sys/fs/cgroup``; it exists for tests and debugging only.
"""

from __future__ import annotations

import logging
import math
import os
from pathlib import Path

from personseg.errors import UserError

log = logging.getLogger(__name__)
CGROUP_ROOT = Path("/sys/fs/cgroup")
ROOT_ENV = "PERSONSEG_CGROUP_ROOT"


def _read(path: Path) -> str | None:
    try:
        return path.read_text().strip()
    except OSError:
        return None


def _ratio(quota: str, period: str, path: Path) -> float | None:
    try:
        q, p = int(quota), int(period)
    except ValueError:
        log.warning("%s: cannot read a CPU quota from %r %r; assuming none", path, quota, period)
        return None
    return q / p if q > 0 and p > 0 else None


def cgroup_cpu_limit(root: str | Path | None = None) -> float | None:
    """The cgroup CPU quota in CPUs (e.g. 1.5), or None when unlimited or not in a cgroup."""
    root = Path(root or os.environ.get(ROOT_ENV) or CGROUP_ROOT)
    text = _read(root / "cpu.max")
    if text:
        quota, _, period = text.partition(" ")
        return None if quota == "max" else _ratio(quota, period, root / "cpu.max")
    quota_text, period_text = _read(root / "cpu" / "cpu.cfs_quota_us"), _read(root / "cpu" / "cpu.cfs_period_us")
    if quota_text and period_text:
        return _ratio(quota_text, period_text, root / "cpu" / "cpu.cfs_quota_us")
    return None


def cpu_quota(root: str | Path | None = None) -> int:
    """Whole CPUs this process may use: its affinity mask, capped by the cgroup quota, at least 1."""
    cpus = len(os.sched_getaffinity(0))
    limit = cgroup_cpu_limit(root)
    if limit is not None:
        cpus = min(cpus, math.floor(limit))
    return max(1, cpus)


def default_threads() -> int:
    """Threads for every step (torch and ONNX Runtime): ``PERSONSEG_THREADS``, else the CPU quota."""
    env = os.environ.get("PERSONSEG_THREADS")
    if env:
        try:
            return max(1, int(env))
        except ValueError:
            raise UserError(f"PERSONSEG_THREADS={env!r}: expected a whole number") from None
    return cpu_quota()
