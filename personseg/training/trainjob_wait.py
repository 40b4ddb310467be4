"""Wait for a TrainJob: node 0's log streamed into ours, the job's own verdict, a deadline.

The job's conditions decide (Trainer sets ``Complete`` or ``Failed`` with a reason and message,
``trainer.kubeflow.org/v1alpha1`` ``TrainJobComplete``/``TrainJobFailed``); the log is for people.
It is polled with ``get`` (no watch, so the Role needs no ``watch``), node 0's pod is found by its
JobSet labels and its log followed on a thread from the moment the pod runs. A job that disappears
while we wait failed the step too: someone deleted it, and the message says so.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Any

from personseg.errors import UserError
from personseg.training.trainjob_api import TrainJobApi, lines

log = logging.getLogger(__name__)
TAIL = 8  # log lines of node 0 quoted in a failure message
STARTED_PHASES = ("Running", "Succeeded", "Failed")


class TrainJobFailed(UserError):
    """The TrainJob failed, was deleted or ran out of time (``outcome``); the message carries its reason."""

    def __init__(self, message: str, outcome: str) -> None:
        super().__init__(message)
        self.outcome = outcome  # "failed", "deleted" or "timeout"


def verdict(obj: dict[str, Any]) -> tuple[str, str] | None:
    """("Complete" | "Failed", "reason: message") once the job has finished, else None."""
    for cond in (obj.get("status") or {}).get("conditions") or []:
        if cond.get("type") in ("Complete", "Failed") and cond.get("status") == "True":
            text = ": ".join(p for p in (cond.get("reason"), cond.get("message")) if p)
            return cond["type"], text or "no reason given"
    return None


class LogFollower:
    """Follows node 0's log on a thread once its pod has started; keeps the last lines for messages."""

    def __init__(self, api: TrainJobApi, job: str, emit: Callable[[str], None]) -> None:
        self.api, self.job, self.emit = api, job, emit
        self.tail: deque[str] = deque(maxlen=TAIL)
        self._thread: threading.Thread | None = None
        self._resp: Any = None

    def poke(self) -> None:
        """Start following if node 0's pod has started and we are not following yet."""
        if self._thread is not None:
            return
        pod = self.api.node_pod(self.job)
        if pod is None or pod["phase"] not in STARTED_PHASES:
            return
        self._resp = self.api.follow_log(pod["name"])
        self._thread = threading.Thread(target=self._pump, name=f"log-{self.job}", daemon=True)
        self._thread.start()

    def _pump(self) -> None:
        try:
            for line in lines(self._resp):
                self.tail.append(line)
                self.emit(line)
        except Exception as exc:  # noqa: BLE001 - a broken log stream must not hide the job's verdict
            if self._resp is not None:
                log.warning("log stream of TrainJob %s ended: %s", self.job, exc)

    def finish(self, grace: float) -> None:
        """Let the stream drain (it ends when the container exits) for up to ``grace`` seconds, then close it."""
        if self._thread is not None:
            self._thread.join(grace)
        self.close()

    def close(self) -> None:
        """Close the stream (ends the thread's read); safe to call twice."""
        resp, self._resp = self._resp, None
        if resp is not None:
            resp.close()

    def quoted(self) -> str:
        """The kept tail of node 0's log, for a failure message."""
        return "; last lines of node 0's log:\n  " + "\n  ".join(self.tail) if self.tail else ""


def wait_for(api: TrainJobApi, job: str, timeout: float, poll: float = 5.0,
             emit: Callable[[str], None] = print, grace: float = 10.0) -> dict[str, Any]:
    """Block until TrainJob ``job`` completes and return it; raise ``TrainJobFailed`` with its reason otherwise."""
    where = f"TrainJob {api.namespace}/{job}"
    follower = LogFollower(api, job, emit)
    deadline = time.monotonic() + timeout
    try:
        while True:
            obj = api.get(job)
            if obj is None:
                follower.finish(0.5)
                raise TrainJobFailed(f"{where} was deleted while the step waited for it{follower.quoted()}", "deleted")
            done = verdict(obj)
            if done is not None:
                follower.finish(grace)
                if done[0] == "Failed":
                    nodes = "; ".join(api.failed_nodes(job))
                    raise TrainJobFailed(f"{where} failed: {done[1]}{' (' + nodes + ')' if nodes else ''}"
                                         f"{follower.quoted()}", "failed")
                return obj
            follower.poke()
            if time.monotonic() > deadline:
                raise TrainJobFailed(f"{where} did not finish within {timeout:.0f}s (train_timeout); "
                                     f"conditions: {(obj.get('status') or {}).get('conditions') or 'none'}"
                                     f"{follower.quoted()}", "timeout")
            time.sleep(poll)
    finally:
        follower.close()
