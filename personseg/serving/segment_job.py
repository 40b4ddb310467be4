"""One ``/v1/segment`` request's work off the event loop, in four thread hand-offs instead of six.

A worker-pool thread decodes and preprocesses the image and queues its tensor for the inference
thread itself; the inference thread's completion hands the logits straight to the pool for
postprocessing and encoding; only the finished PNG goes back to the event loop. When every step
returned to the event loop first, each request woke a thread six times, and on a busy machine every
wake-up waits for a CPU (the ``handoff`` stage of ``personseg.serving.timeline``).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from concurrent.futures import Executor
from dataclasses import dataclass
from typing import Any

import numpy as np

from personseg.serving.batcher import Inference, MicroBatcher
from personseg.serving.ticket import ClientGone, Ticket
from personseg.serving.timeline import Timeline

Prepare = Callable[[], tuple[Any, np.ndarray]]  # -> (what render needs besides the logits, the input tensor)
Render = Callable[[Any, np.ndarray], bytes]  # (that, logits) -> the answer


@dataclass
class SegmentJob:
    """Decode, queue, render: started on the event loop, awaited there, run by the pool and inference threads."""

    loop: asyncio.AbstractEventLoop
    pool: Executor
    batcher: MicroBatcher
    ticket: Ticket
    timeline: Timeline
    prepare: Prepare
    render: Render

    async def run(self) -> bytes:
        """The rendered answer; ``ClientGone`` if the client left while its image waited for the model."""
        self.answer: asyncio.Future = self.loop.create_future()
        self.sent = time.perf_counter()
        self.batcher.expect(1)  # announced while it is decoded, so a batch about to start waits for it
        try:
            self.pool.submit(self._decode)
        except BaseException:
            self.batcher.unexpect(1)
            raise
        return await self.answer

    def _decode(self) -> None:
        began = time.perf_counter()
        try:
            kept, tensor = self.prepare()
            self.ticket.check()
            inference = self.batcher.submit(tensor, expected=True)
        except BaseException as exc:  # the request's error, raised on the event loop
            self.batcher.unexpect(1)
            self._reply(exc=exc)
            return
        self.timeline.add("decode", inference.queued - began)
        self.timeline.add("handoff", began - self.sent)
        try:
            self.ticket.track([inference])
        except ClientGone as exc:
            self._reply(exc=exc)
            return
        inference.add_done_callback(lambda done: self._handed_back(done, kept))

    def _handed_back(self, inference: Inference, kept: Any) -> None:
        """On the inference thread (or this one, if it is done already): render in the pool."""
        try:
            self.pool.submit(self._render, inference, kept)
        except BaseException as exc:
            self._reply(exc=exc)

    def _render(self, inference: Inference, kept: Any) -> None:
        began = time.perf_counter()
        if inference.cancelled():
            self._reply(exc=ClientGone("the client closed the connection"))
            return
        try:
            answer = self.render(kept, inference.result())
        except BaseException as exc:
            self._reply(exc=exc)
            return
        self.timeline.add("batch_wait", inference.started - inference.queued)
        self.timeline.add("model", inference.ended - inference.started)
        self.timeline.add("handoff", began - inference.ended)
        self.timeline.add("render", time.perf_counter() - began)
        self._reply(answer)

    def _reply(self, answer: bytes | None = None, exc: BaseException | None = None) -> None:
        self.loop.call_soon_threadsafe(self._settle, answer, exc, time.perf_counter())

    def _settle(self, answer: bytes | None, exc: BaseException | None, replied: float) -> None:
        if self.answer.done():  # the request was cancelled meanwhile (shutdown): nobody is waiting
            return
        if exc is not None:
            self.answer.set_exception(exc)
            return
        self.timeline.add("handoff", time.perf_counter() - replied)
        self.answer.set_result(answer)
