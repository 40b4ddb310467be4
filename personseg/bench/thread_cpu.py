"""CPU time of a server process split by thread: its event loop, its worker pool and the model.

The server names its worker-pool threads ``personseg-io`` for the operating system
(``personseg.threadname``); its event loop runs on the main thread (thread id = process id). Every other
thread is the model's: the inference thread and the runtime's own worker threads. Read from
``/proc/<pid>/task/*/stat`` (proc(5)): an empty answer where there is no ``/proc``.
"""

from __future__ import annotations

import os
from pathlib import Path

POOL_PREFIX = "personseg-io"
GROUPS = ("loop", "pool", "model")


def thread_cpu_s(pid: int) -> dict[str, float]:
    """CPU seconds each of ``GROUPS`` has used in process ``pid`` (threads that ended are not counted)."""
    tick = os.sysconf("SC_CLK_TCK")
    out = dict.fromkeys(GROUPS, 0.0)
    try:
        tasks = list(Path(f"/proc/{pid}/task").iterdir())
    except OSError:
        return {}
    for task in tasks:
        try:
            name = (task / "comm").read_text().strip()
            fields = (task / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:  # the thread ended meanwhile
            continue
        group = "loop" if task.name == str(pid) else "pool" if name.startswith(POOL_PREFIX) else "model"
        out[group] += (int(fields[11]) + int(fields[12])) / tick  # utime, stime
    return out
