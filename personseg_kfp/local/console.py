"""What ``personseg pipeline run --local`` shows: a line per step start and end, the verdict, where to look.

The steps' own logs (kfp.local's executor JSON, training epochs, INC's tuning) go to the run's log file;
this module only formats. It knows nothing about how steps are detected: it is fed ``StepEvent``-like
objects (``task``, ``state``, ``seconds``, ``figure``) and, on a terminal, progress lines.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
from pathlib import Path
from typing import Protocol, TextIO

from personseg.console.launcher import personseg_command
from personseg.steps.summary import terminal_summary
from personseg_kfp.local.redirect import strip_colour

DEMO_PHOTO = ("real", "grace_hopper.jpg")
MAX_LINES = 60  # all a local run prints when it succeeds, from its first line to the stop command
MAX_FIGURE = 200  # a longer figure (every candidate's gate failure) is cut: the report below has it whole


class Event(Protocol):
    """A step event (``personseg_kfp.local.watch.StepEvent``)."""

    task: str
    state: str
    seconds: float
    figure: str


def _shown(path: Path) -> str:
    """``path`` relative to the current folder when it is inside it (shorter to read and paste)."""
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


class RunConsole:
    """Writes the run's few lines to ``out``; ``terminal`` adds a rewritten progress line under a running step."""

    def __init__(self, out: TextIO, terminal: bool = False) -> None:
        self.out, self.terminal = out, terminal
        self.states: dict[str, str] = {}
        self._progress_shown = False

    def _line(self, text: str) -> None:
        if self._progress_shown:
            self.out.write("\r\x1b[K")
            self._progress_shown = False
        self.out.write(text + "\n")
        self.out.flush()

    def start(self, log_path: Path) -> None:
        """Say where the full logs go, before anything runs."""
        self._line(f"Running the pipeline locally; full log: {_shown(log_path)} (personseg -v shows it live)")

    def event(self, ev: Event) -> None:
        """One line per step start, end or failure."""
        self.states[ev.task] = ev.state
        if ev.state == "started":
            self._line(f"-> {ev.task}")
        elif ev.state == "done":
            figure = ev.figure if len(ev.figure) <= MAX_FIGURE else ev.figure[:MAX_FIGURE - 3] + "..."
            self._line(f"   {ev.task:<10} {ev.seconds:6.1f} s  {figure}".rstrip())
        else:
            self._line(f"   {ev.task:<10} FAILED after {ev.seconds:.1f} s")

    def progress(self, task: str, seconds: float, text: str) -> None:
        """On a terminal only: rewrite one line under the running step (time so far; epoch, trial, round)."""
        if not self.terminal:
            return
        width = shutil.get_terminal_size((80, 24)).columns - 1
        self.out.write("\r" + f"   {task:<10} {seconds:6.0f} s  {text}".rstrip()[:width] + "\x1b[K")
        self.out.flush()
        self._progress_shown = True

    def skipped(self) -> None:
        """Steps that did not run, and why (no new data; the gate passed no candidate)."""
        if self.states.get("check-data") == "done" and "ingest" not in self.states:
            self._line(f"   {'(rest)':<10} skipped: no new data, nothing to train")
        elif self.states.get("evaluate") == "done" and "deploy" not in self.states:
            self._line(f"   {'deploy':<10} skipped: not deployed, no candidate passed the gate (see the report)")

    def failure(self, log_path: Path, tail: list[str], error: BaseException,
                raised: tuple[str, str] | None = None) -> None:
        """A failed run: what failed and why in one line, where the whole log is, and (for a bug) its last lines.

        ``raised`` is the failed step's own exception (class, message) from the log: a user's mistake is
        that one line, with no traceback; anything else shows the log's tail too.
        """
        failed = [t for t, s in self.states.items() if s == "failed"]
        where = f" in step {failed[-1]}" if failed else ""
        if raised and failed:
            kind, message = raised
            mistake = _is_user_error(kind)
            self._line(f"The run failed{where}: {message if mistake else f'{kind}: {message}'}")
            if mistake:
                self._line(f"Full log: {_shown(log_path)}")
                return
        else:
            message = strip_colour(str(error).splitlines()[0]) if str(error) else type(error).__name__
            self._line(f"The run failed{where}: {message}")
        self._line(f"Full log: {_shown(log_path)}; its last {len(tail)} lines:")
        for line in tail:
            self._line(f"  | {line}")

    def finish(self, run_dir: Path, report: Path, log_path: Path | None, seconds: float) -> None:
        """The report's verdict, candidates and chain, then where to look (gallery, report, log, curl, stop).

        With the step lines, at most ``MAX_LINES`` in all: the report's file (and the KFP UI) has the rest.
        """
        minutes, secs = divmod(round(seconds), 60)
        self._line(f"Pipeline finished in {minutes} min {secs} s.\n")
        self._line(terminal_summary(report.read_text()).rstrip() + "\n")
        for line in where_to_look(run_dir, report, log_path):
            self._line(line)


def _is_user_error(kind: str) -> bool:
    """Whether the dotted class name ``kind`` is a ``UserError`` (a mistake the message explains) or a bug."""
    import importlib

    from personseg.errors import UserError

    module, _, name = kind.rpartition(".")
    try:
        cls = getattr(importlib.import_module(module), name) if module else None
    except ImportError:
        return False
    return isinstance(cls, type) and issubclass(cls, UserError)


def _demo_photo() -> Path | None:
    from personseg.labeling.committed import datasets_root

    photo = datasets_root() / DEMO_PHOTO[0] / "images" / DEMO_PHOTO[1]
    return photo if photo.is_file() else None


def gallery_html(run_dir: Path) -> Path | None:
    """``<run>/gallery.html``: the evaluate step's gallery under a name a browser opens as HTML."""
    gallery = run_dir / "evaluate" / "gallery"
    if not gallery.is_file():
        return None
    link = run_dir / "gallery.html"
    if not link.exists():
        try:
            os.link(gallery, link)
        except OSError:
            shutil.copyfile(gallery, link)
    return link


def _stop_line(name: str, state_dir: str | None) -> str:
    where = f" --state-dir {shlex.quote(state_dir)}" if state_dir else ""
    return f"{personseg_command()} deploy --target local --name {shlex.quote(name)}{where} --stop"


def _still_serving() -> list[str]:
    """A line per local deployment of an earlier run that still answers (a run that trained nothing keeps it)."""
    from personseg.deploy.local import read_state, state_dir

    folder = state_dir()
    lines = []
    for record in sorted(folder.glob("local-*.json")):
        name = record.stem.removeprefix("local-")
        state = read_state(folder, name)
        if state:
            lines.append(f"Still serving {state['model']} at {state['url']} (deployed earlier); stop it with: "
                         f"{_stop_line(name, str(folder.resolve()))}")
    return lines


def where_to_look(run_dir: Path, report: Path, log_path: Path | None) -> list[str]:
    """The closing lines: outputs, and for a deployed model its URL, a curl to try it and how to stop it."""
    lines = []
    gallery = gallery_html(run_dir)
    if gallery:
        lines.append(f"Gallery:  {_shown(gallery)} (open it in a browser)")
    lines.append(f"Report:   {_shown(report)} (whole: every model, production, settings)")
    if log_path:
        lines.append(f"Full log: {_shown(log_path)}")
    result = run_dir / "deploy" / "result"
    if not (run_dir / "evaluate").is_dir():
        return [*lines, f"Nothing trained (no new data); outputs in {run_dir}", *_still_serving(),
                "To train anyway: make demo FORCE=1, or personseg pipeline run --local --param force_retrain=true"]
    if not result.is_file():
        return [*lines, f"Not deployed (the gate said no); outputs in {run_dir}"]
    deployed = json.loads(result.read_text())
    url = deployed["endpoint"]
    lines.append(f"Deployed {deployed['pinned_model']} ({deployed['target']}); the model answers at {url} "
                 f"(POST {url}/v1/segment); outputs in {run_dir}")
    photo = _demo_photo()
    source = _shown(photo) if photo else "photo.jpg"
    cutout = f"{Path(source).stem}-cutout.png"
    lines.append(f"Cut the person out of {'a bundled photo' if photo else 'a photo of yours'} (a PNG with "
                 f"transparent background):\n  curl -sS --fail --data-binary @{source} "
                 f"'{url}/v1/segment?output=cutout' -o {cutout}")
    if deployed["target"] == "local":
        lines.append(f"Stop the server with: {_stop_line(deployed['name'], deployed.get('state_dir'))}")
    return lines
