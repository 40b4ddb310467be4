"""Progress inside long loops (epochs, batches, tuning trials, timing rounds), shown only to a person.

On a terminal (stderr is a TTY) it is one line rewritten with a carriage return; under ``personseg pipeline run
--local`` the step runs as a subprocess whose output goes to the log, so the CLI names a file in
``PERSONSEG_PROGRESS_FILE`` and shows its latest line beside the running step. Anywhere else (a pod,
a pipe, a test) it does nothing, so logs stay one line per event.
"""

from __future__ import annotations

import os
import shutil
import sys

PROGRESS_FILE_ENV = "PERSONSEG_PROGRESS_FILE"


def _on_terminal() -> bool:
    return hasattr(sys.stderr, "isatty") and sys.stderr.isatty()


def progress(what: str, done: int, total: int, detail: str = "") -> None:
    """Report ``done`` of ``total`` units of ``what`` (e.g. "epoch 3/15  batch 4/9")."""
    text = f"{what} {done}/{total}" + (f"  {detail}" if detail else "")
    path = os.environ.get(PROGRESS_FILE_ENV)
    if path:
        tmp = f"{path}.{os.getpid()}.tmp"
        with open(tmp, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.replace(tmp, path)  # the reader never sees half a line
    elif _on_terminal():
        width = shutil.get_terminal_size((80, 24)).columns - 1
        sys.stderr.write("\r" + text[:width] + "\x1b[K")
        sys.stderr.flush()


def clear() -> None:
    """Remove the progress line before a log line is written (a no-op off the terminal)."""
    if not os.environ.get(PROGRESS_FILE_ENV) and _on_terminal():
        sys.stderr.write("\r\x1b[K")
        sys.stderr.flush()


def read_progress(path: str | os.PathLike[str]) -> str:
    """The latest progress line written to ``path`` ("" when there is none yet)."""
    try:
        with open(path, encoding="utf-8") as fh:
            return fh.read().strip()
    except FileNotFoundError:
        return ""
