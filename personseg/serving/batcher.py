"""Dynamic micro-batching: concurrent requests become one batched inference call.

Callers ``submit`` one image and get a ``Future``. A single worker thread takes the first waiting
image, then collects more for up to ``wait_s`` or until ``max_batch``, stacks them, runs the model
once and hands each caller its own slice. Under load the queue is already full when a batch ends,
so the next batch starts without waiting at all.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future

import numpy as np

from personseg.serving.errors import InferenceFailed

log = logging.getLogger(__name__)

_STOP = object()

BatchFn = Callable[[np.ndarray], np.ndarray]
BatchObserver = Callable[[int, float], None]


class MicroBatcher:
    """One inference thread fed by a queue of single images.

    Args:
        run_batch: (N, ...) array -> (N, ...) array; the model's ``predict``.
        max_batch: most images per call.
        wait_s: how long a lone image waits for company.
        observe: called with (batch size, seconds) after every batch, for metrics.
    """

    def __init__(self, run_batch: BatchFn, max_batch: int, wait_s: float,
                 observe: BatchObserver | None = None) -> None:
        self.run_batch = run_batch
        self.max_batch = max_batch
        self.wait_s = wait_s
        self.observe = observe
        self._queue: queue.Queue = queue.Queue()
        self._thread = threading.Thread(target=self._loop, name="personseg-inference", daemon=True)
        self._closed = False
        self._lock = threading.Lock()  # a submit never lands behind the stop marker

    def start(self) -> None:
        """Start the inference thread."""
        self._thread.start()

    def pending(self) -> int:
        """Images waiting for inference (approximate, for back-pressure and metrics)."""
        return self._queue.qsize()

    def submit(self, item: np.ndarray) -> Future:
        """Queue one input; the future resolves to its output slice."""
        future: Future = Future()
        with self._lock:
            if self._closed:
                raise RuntimeError("batcher is closed")
            self._queue.put((item, future))
        return future

    def close(self, timeout: float | None = None) -> None:
        """Stop after every image already queued has run (graceful), then join the thread."""
        with self._lock:
            self._closed = True
            self._queue.put(_STOP)
        if self._thread.is_alive():
            self._thread.join(timeout)

    def _collect(self, first: tuple) -> tuple[list, bool]:
        """The first item plus whatever arrives within the wait window; True if told to stop."""
        items = [first]
        deadline = time.monotonic() + self.wait_s
        while len(items) < self.max_batch:
            remaining = deadline - time.monotonic()
            try:
                nxt = self._queue.get(timeout=remaining) if remaining > 0 else self._queue.get_nowait()
            except queue.Empty:
                break
            if nxt is _STOP:
                return items, True
            items.append(nxt)
        return items, False

    def _loop(self) -> None:
        stop = False
        while not stop:
            first = self._queue.get()
            if first is _STOP:
                break
            items, stop = self._collect(first)
            live = [(x, f) for x, f in items if f.set_running_or_notify_cancel()]
            if live:
                self._run(live)

    def _run(self, items: list[tuple[np.ndarray, Future]]) -> None:
        start = time.perf_counter()
        try:
            out = self.run_batch(np.stack([x for x, _ in items]))
            if len(out) != len(items):
                raise ValueError(f"model returned {len(out)} outputs for a batch of {len(items)}")
        except Exception as exc:  # any runtime failure fails this batch's requests, not the server
            log.exception("inference failed for a batch of %d", len(items))
            for _, future in items:
                future.set_exception(InferenceFailed(f"inference failed: {type(exc).__name__}: {exc}"))
            return
        if self.observe:
            self.observe(len(items), time.perf_counter() - start)
        for i, (_, future) in enumerate(items):
            future.set_result(out[i])
