"""``personseg pipeline run --local`` without ``-v``: step lines on the terminal, everything else in a log file.

The log starts as ``<root>/pipeline-<time>.log`` (kfp.local names the run's folder only once it starts)
and is linked into the run's folder as ``pipeline.log`` when the run ends. A failure is never hidden:
the traceback goes into the log, and the log's path and last lines are printed.
"""

from __future__ import annotations

import logging
import os
import sys
import time
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Protocol

from personseg.console.progress import PROGRESS_FILE_ENV
from personseg.errors import UserError
from personseg_kfp.local.console import RunConsole
from personseg_kfp.local.redirect import output_to_file, raised, tail

TAIL_LINES = 20


class Outcome(Protocol):
    """What a finished local run returns (``personseg_kfp.local.run.LocalRun``)."""

    run_dir: Path
    report: Path


@contextmanager
def _warnings_logged() -> Iterator[None]:
    """Python warnings (kfp.local's notes on settings it ignores) into the log, not dropped as on a terminal."""
    logger = logging.getLogger("py.warnings")
    level = logger.level
    logger.setLevel(logging.WARNING)
    try:
        yield
    finally:
        logger.setLevel(level)


@contextmanager
def _progress_env(path: Path | None) -> Iterator[None]:
    """Point the steps' progress at ``path`` (only when the console is a terminal) for the run's duration."""
    if path is None:
        yield
        return
    old = os.environ.get(PROGRESS_FILE_ENV)
    os.environ[PROGRESS_FILE_ENV] = str(path)
    try:
        yield
    finally:
        if old is None:
            os.environ.pop(PROGRESS_FILE_ENV, None)
        else:
            os.environ[PROGRESS_FILE_ENV] = old
        path.unlink(missing_ok=True)


def _link_log(log_path: Path, run_dir: Path | None) -> Path:
    """``<run>/pipeline.log`` naming the same file as ``log_path`` (``log_path`` when there is no run folder)."""
    if run_dir is None:
        return log_path
    target = run_dir / "pipeline.log"
    try:
        os.link(log_path, target)
    except OSError as exc:  # a filesystem without hard links: keep the one name, and say why in the log
        with open(log_path, "a") as fh:
            fh.write(f"personseg: could not link this log as {target}: {exc}\n")
        return log_path
    return target


def run_quiet(root: str | Path, run: Callable[[], Outcome]) -> int:
    """Run ``run()`` (returns a ``LocalRun``) with its output in a log under ``root``; print the few lines."""
    from personseg_kfp.local.watch import RunWatcher

    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    log_path = root / f"pipeline-{time.strftime('%Y-%m-%d-%H-%M-%S')}.log"
    terminal = sys.stdout.isatty()
    progress_file = log_path.with_suffix(".progress") if terminal else None
    console = RunConsole(sys.stdout, terminal)
    started = time.monotonic()
    watcher = RunWatcher(root, console.event, console.progress, progress_file)
    try:
        with output_to_file(log_path) as out:
            console.out = out
            console.start(log_path)
            try:
                with _progress_env(progress_file), _warnings_logged(), watcher:
                    outcome = run()
            except BaseException:
                if "failed" not in console.states.values():  # a failed task's own traceback is in the log already
                    traceback.print_exc()  # into the log, so its tail shows what went wrong here
                raise
    except BaseException as exc:
        console.out = sys.stdout
        log_shown = _link_log(log_path, watcher.run_dir)
        console.failure(log_shown, tail(log_shown, TAIL_LINES), exc, raised(log_shown))
        if isinstance(exc, Exception) and not isinstance(exc, UserError):
            return 1
        raise
    console.out = sys.stdout
    console.skipped()
    console.finish(outcome.run_dir, outcome.report, _link_log(log_path, outcome.run_dir),
                   time.monotonic() - started)
    return 0
