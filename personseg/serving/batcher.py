"""Dynamic micro-batching: concurrent requests become one batched inference call.

Callers ``submit`` one image and get a ``Future``. A single worker thread takes the first waiting
image and every other image already queued (up to ``max_batch``), stacks them, runs the model once
and hands each caller its own slice. It waits for company (up to ``wait_s``) only while images are on
their way, announced by ``expect`` while their requests are decoded: a lone request never waits, and
under load the queue is already full when a batch ends, so the next batch starts at once.
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
from personseg.threadname import name_os_thread

log = logging.getLogger(__name__)

_STOP = object()
_WAKE = object()  # an expected image will not come: look again at what is coming

BatchFn = Callable[[np.ndarray], np.ndarray]
BatchObserver = Callable[[int, float], None]


class Inference(Future):
    """One image's place in the batcher: its output slice, and when its batch ran (``time.perf_counter``)."""

    def __init__(self) -> None:
        super().__init__()
        self.queued = time.perf_counter()
        self.started = 0.0
        self.ended = 0.0


class MicroBatcher:
    """One inference thread fed by a queue of single images.

    Args:
        run_batch: (N, ...) array -> (N, ...) array; the model's ``predict``.
        max_batch: most images per call.
        wait_s: how long a batch waits for images announced by ``expect`` and not queued yet.
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
        self._coming = 0  # images announced by ``expect`` and not submitted yet

    def start(self) -> None:
        """Start the inference thread."""
        self._thread.start()

    def pending(self) -> int:
        """Images waiting for inference (approximate, for back-pressure and metrics)."""
        return self._queue.qsize()

    def expect(self, images: int) -> None:
        """``images`` are on their way (their requests are being decoded): a batch may wait for them."""
        with self._lock:
            self._coming += images

    def unexpect(self, images: int) -> None:
        """Expected images that will not be submitted (their request failed or left)."""
        with self._lock:
            self._coming -= images
            self._queue.put(_WAKE)

    def coming(self) -> int:
        """Images expected and not yet submitted."""
        return self._coming

    def submit(self, item: np.ndarray, expected: bool = False) -> Inference:
        """Queue one input (``expected``: announced by ``expect``); the future resolves to its output slice."""
        future = Inference()
        with self._lock:
            if self._closed:
                raise RuntimeError("batcher is closed")
            self._queue.put((item, future))
            if expected:  # in the same step as the put, so the inference thread never waits for it twice
                self._coming -= 1
        return future

    def close(self, timeout: float | None = None) -> None:
        """Stop after every image already queued has run (graceful), then join the thread."""
        with self._lock:
            self._closed = True
            self._queue.put(_STOP)
        if self._thread.is_alive():
            self._thread.join(timeout)

    def _collect(self, first: tuple) -> tuple[list, bool]:
        """The first item, everything queued, and what arrives in the wait window while more is expected.

        Returns the items and True if told to stop.
        """
        items = [first]
        deadline = time.monotonic() + self.wait_s
        while len(items) < self.max_batch:
            try:
                nxt = self._queue.get_nowait()
            except queue.Empty:
                remaining = deadline - time.monotonic()
                if self._coming <= 0 or remaining <= 0:  # nothing on its way: run what there is now
                    break
                try:
                    nxt = self._queue.get(timeout=remaining)
                except queue.Empty:
                    break
            if nxt is _WAKE:
                continue
            if nxt is _STOP:
                return items, True
            items.append(nxt)
        return items, False

    def _loop(self) -> None:
        name_os_thread("personseg-infer")
        stop = False
        while not stop:
            first = self._queue.get()
            if first is _WAKE:
                continue
            if first is _STOP:
                break
            items, stop = self._collect(first)
            live = [(x, f) for x, f in items if f.set_running_or_notify_cancel()]
            if live:
                self._run(live)

    def _run(self, items: list[tuple[np.ndarray, Inference]]) -> None:
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
        end = time.perf_counter()
        if self.observe:
            self.observe(len(items), end - start)
        for i, (_, future) in enumerate(items):
            future.started, future.ended = start, end
            future.set_result(out[i])
