"""Follow a ``kfp.local`` run from its folders: a task starts when its folder appears, ends with its output.

Why folders and not ``kfp.local``'s log lines: the folder layout (``<root>/<run>/<task>/`` and the
``executor_output.json`` a task writes as it succeeds) is what the CLI already reads for the report and
what each step's key figure comes from, so an end event always has its figure; it does not depend on
kfp.local's log wording or colours (which change between kfp versions), and it works the same whether
the logs go to a file or live to the terminal (``-v``). The cost: a start is seen when the task's
executor creates its folder, a fraction of a second after kfp.local starts the subprocess, and an end
when the task writes its outputs, before the subprocess exits.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from personseg.console.progress import read_progress
from personseg_kfp.local.figures import EXECUTOR_OUTPUT, key_figure

POLL_SECONDS = 0.5


@dataclass(frozen=True)
class StepEvent:
    """One task started (``state`` "started"), finished ("done", with its figure) or failed ("failed")."""

    task: str
    state: Literal["started", "done", "failed"]
    seconds: float = 0.0
    figure: str = ""


def _finished(task: Path) -> bool:
    """Whether the task has written its whole ``executor_output.json`` (a half-written one: next poll)."""
    try:
        json.loads((task / EXECUTOR_OUTPUT).read_text())
    except (FileNotFoundError, ValueError):
        return False
    return True


class RunWatcher:
    """Polls ``pipeline_root`` for the run folder kfp.local creates and reports its tasks as events.

    Use as a context manager around ``run_local``; leaving it stops the thread, scans once more and
    reports every task that started but wrote no outputs as failed. ``on_progress`` (optional) gets
    the running task, its seconds so far and the latest line of ``progress_file`` on each poll; the
    file is emptied as each task starts and ends, so no step shows another's progress.
    """

    def __init__(self, pipeline_root: Path, on_event: Callable[[StepEvent], None],
                 on_progress: Callable[[str, float, str], None] | None = None, progress_file: Path | None = None,
                 poll: float = POLL_SECONDS) -> None:
        self.root = Path(pipeline_root)
        self.on_event, self.on_progress, self.progress_file, self.poll = on_event, on_progress, progress_file, poll
        self.run_dir: Path | None = None
        self._before: set[str] = set()
        self._started: dict[str, float] = {}
        self._done: set[str] = set()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="personseg-run-watcher", daemon=True)

    def __enter__(self) -> RunWatcher:
        self._before = {p.name for p in self.root.iterdir()} if self.root.is_dir() else set()
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.scan()
        for task in [t for t in self._started if t not in self._done]:
            self._done.add(task)
            self.on_event(StepEvent(task, "failed", time.monotonic() - self._started[task]))

    def _loop(self) -> None:
        while not self._stop.wait(self.poll):
            self.scan()
            running = [t for t in self._started if t not in self._done]
            if running and self.on_progress and self.progress_file:
                task = running[-1]
                self.on_progress(task, time.monotonic() - self._started[task], read_progress(self.progress_file))

    def _forget_progress(self) -> None:
        if self.progress_file is not None:
            self.progress_file.unlink(missing_ok=True)

    def _find_run(self) -> Path | None:
        new = [p for p in self.root.iterdir() if p.is_dir() and not p.name.startswith(".")
               and p.name not in self._before] if self.root.is_dir() else []
        return max(new, key=lambda p: p.name) if new else None

    def scan(self) -> None:
        """Report tasks whose folder appeared or whose outputs were written since the last scan."""
        if self.run_dir is None:
            self.run_dir = self._find_run()
            if self.run_dir is None:
                return
        now = time.monotonic()
        tasks = sorted((p for p in self.run_dir.iterdir() if p.is_dir()), key=lambda p: p.stat().st_mtime)
        for task in tasks:
            if task.name not in self._started:
                self._started[task.name] = now
                self._forget_progress()
                self.on_event(StepEvent(task.name, "started"))
            if task.name not in self._done and _finished(task):
                self._done.add(task.name)
                self._forget_progress()
                self.on_event(StepEvent(task.name, "done", now - self._started[task.name], key_figure(task)))
