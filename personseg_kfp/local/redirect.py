"""Send everything a long run prints (this process, its threads and its subprocesses) to a log file.

``kfp.local`` prints each task's executor input and streamed logs from this process, and the tasks'
subprocesses inherit file descriptors 1 and 2, so the redirection happens at the descriptor level
(``os.dup2``) as well as on ``sys.stdout``/``sys.stderr`` (which a test harness may have replaced).
The caller keeps a stream on the original stdout for the few lines a person should see.
"""

from __future__ import annotations

import io
import os
import re
import sys
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TextIO

_ANSI = re.compile(r"\x1b\[[0-9;]*m")
# the last line of a Python traceback: "package.module.SomeError: message" (indented when a runner relays it)
_RAISED = re.compile(r"^\s*(?P<kind>[A-Za-z_][\w.]*(?:Error|Exception)): (?P<message>\S.*)$")


def _console(saved_stdout_fd: int) -> TextIO:
    """A stream on what stdout was: the saved descriptor, or the replaced ``sys.stdout`` (pytest's capture)."""
    try:
        if sys.stdout.fileno() == 1:
            return open(saved_stdout_fd, "w", buffering=1, closefd=False)
    except (AttributeError, ValueError, io.UnsupportedOperation):
        pass  # not backed by descriptor 1: write to the object itself
    return sys.stdout


@contextmanager
def output_to_file(log_path: str | Path) -> Iterator[TextIO]:
    """Redirect descriptors 1 and 2 and ``sys.stdout``/``sys.stderr`` to ``log_path``; yield the console.

    Everything is restored on the way out, on success and on any error, before the error propagates.
    """
    for stream in (sys.stdout, sys.stderr):
        stream.flush()
    saved = {fd: os.dup(fd) for fd in (1, 2)}
    console = _console(saved[1])
    old_streams = sys.stdout, sys.stderr
    log = open(log_path, "a", buffering=1, encoding="utf-8", errors="replace")
    try:
        for fd in (1, 2):
            os.dup2(log.fileno(), fd)
        sys.stdout = sys.stderr = log
        yield console
    finally:
        log.flush()
        sys.stdout, sys.stderr = old_streams
        for fd, copy in saved.items():
            os.dup2(copy, fd)
        if console is not old_streams[0]:
            console.close()
        for copy in saved.values():
            os.close(copy)
        log.close()


def strip_colour(text: str) -> str:
    """``text`` without terminal colour codes (kfp.local colours task names and statuses)."""
    return _ANSI.sub("", text)


def tail(path: str | Path, lines: int = 20) -> list[str]:
    """The last ``lines`` non-blank lines of a log, without terminal colour codes."""
    with open(path, encoding="utf-8", errors="replace") as fh:
        last = deque((line.rstrip() for line in fh if line.strip()), maxlen=lines)
    return [strip_colour(line) for line in last]


def raised(path: str | Path) -> tuple[str, str] | None:
    """``(exception class, first line of its message)`` of the last traceback in a log, or None.

    Why: a step that fails prints its traceback into the run's log; its last line is the reason a
    person needs, and the runner's own summary ("Inner task failed") is not.
    """
    found = None
    with open(path, encoding="utf-8", errors="replace") as fh:
        for line in fh:
            match = _RAISED.match(strip_colour(line.rstrip()))
            if match:
                found = match.group("kind"), match.group("message")
    return found
