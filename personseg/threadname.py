"""Give the calling thread a name the operating system shows (``top -H``, ``/proc/<pid>/task/*/comm``).

Python before 3.14 keeps ``threading`` names to itself: every thread of the server shows as ``python``.
Named, the server's threads say where its CPU time goes without a profiler: ``personseg bench serve``
splits the server's CPU among its event loop, worker pool and model by these names.
"""

from __future__ import annotations

import ctypes
import sys

PR_SET_NAME = 15  # linux/prctl.h
MAX_NAME_BYTES = 15  # TASK_COMM_LEN (16) less the terminating NUL


def name_os_thread(name: str) -> bool:
    """Name the calling thread ``name`` (cut to 15 bytes) on Linux; False where that is not possible."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return libc.prctl(PR_SET_NAME, name.encode()[:MAX_NAME_BYTES], 0, 0, 0) == 0
    except (OSError, AttributeError):
        return False
