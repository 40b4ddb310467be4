"""The serving service: the model, its micro-batcher and a worker pool, behind two async calls.

``segment`` and ``infer`` decode and preprocess in the worker pool, queue tensors for the single
inference thread, and postprocess in the pool again, so the event loop only moves bytes and the
inference thread only runs the model. Loading happens in the background: the server answers
liveness at once and readiness only after a warm-up inference has passed.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

import numpy as np
from PIL import Image

from personseg.cpuquota import cpu_quota
from personseg.errors import UserError
from personseg.imageops import sigmoid
from personseg.memlimit import cgroup_memory_limit, process_rss
from personseg.runtime import load_predictor
from personseg.serving import compose, oip
from personseg.serving.admission import (
    BACKGROUND_BYTES_PER_PIXEL,
    BYTES_PER_PIXEL,
    MIB,
    Admission,
    fitting_max_pixels,
    memory_budget,
)
from personseg.serving.batcher import Inference, MicroBatcher
from personseg.serving.decode import ImageLimits, decode_image
from personseg.serving.errors import NOT_READY, NotReady, RequestError
from personseg.serving.model import Loader, Prepared, SegmentationModel
from personseg.serving.prometheus import ServerMetrics
from personseg.serving.segment_job import SegmentJob
from personseg.serving.settings import ServeSettings
from personseg.serving.ticket import ClientGone, Ticket
from personseg.serving.timeline import Timeline
from personseg.serving.upload import Upload
from personseg.threadname import name_os_thread

log = logging.getLogger(__name__)
T = TypeVar("T")
MIN_PIXELS = 1_000_000  # a memory limit that leaves room for less than one 1 MP request is a mistake


class SegmentationService:
    """Owns the model lifecycle and the threads around it.

    Args:
        settings: validated server settings.
        loader: how to open a local model directory (``load_predictor``; tests may wrap it).
    """

    def __init__(self, settings: ServeSettings, loader: Loader = load_predictor) -> None:
        self.settings = settings
        self.model = SegmentationModel(settings.model_uri, settings.inference_threads, loader, settings.runtime or None,
                                       settings.card_sha256 or None)
        self.metrics = ServerMetrics(settings.max_batch)
        self.limits = ImageLimits(settings.max_bytes, settings.max_pixels)
        self.admission = Admission(settings.max_queue)
        self.batcher: MicroBatcher | None = None
        self.pool: ThreadPoolExecutor | None = None
        self.load_error: str | None = None
        self.on_fatal: Callable[[str], None] | None = None
        self._loader_thread: threading.Thread | None = None
        self._stopping = False

    # -- lifecycle -------------------------------------------------------------------------------

    @property
    def ready(self) -> bool:
        """Loaded, warmed up and accepting work."""
        return self.batcher is not None and self.model.ready

    def start(self) -> None:
        """Create the worker pool and start loading the model in the background."""
        self.pool = ThreadPoolExecutor(max_workers=max(2, cpu_quota()), thread_name_prefix="personseg-io",
                                       initializer=name_os_thread, initargs=("personseg-io",))
        self.metrics.queue_depth.set_function(lambda: self.batcher.pending() if self.batcher else 0)
        self.metrics.in_flight.set_function(lambda: self.admission.images)
        self.metrics.reserved.set_function(lambda: self.admission.reserved)
        self._loader_thread = threading.Thread(target=self._load, name="personseg-load", daemon=True)
        self._loader_thread.start()

    def _load(self) -> None:
        try:
            self.model.load()
            self.model.warmup((1, self.settings.max_batch) if self.settings.max_batch > 1 else (1,))
            self._fit_memory()
        except Exception as exc:  # whatever stops the model loading makes this replica useless: report and stop
            self.load_error = f"model {self.settings.model_uri}: {exc}" if not isinstance(exc, UserError) else str(exc)
            log.error("model failed to load: %s", self.load_error, exc_info=not isinstance(exc, UserError))
            if self.on_fatal:
                self.on_fatal(self.load_error)
            return
        info = self.model.info
        self.metrics.model.info({"name": self.settings.name, "model": info.name, "version": self.model.version,
                                 "kind": info.kind, "runtime": self.model.runtime_name, "precision": info.precision,
                                 "image_size": str(info.image_size), "uri": self.settings.model_uri})
        batcher = MicroBatcher(self.model.predict, self.settings.max_batch, self.settings.batch_wait_ms / 1000.0,
                               self.metrics.observe_batch)
        if self._stopping:  # shut down while loading: never start serving
            return
        batcher.start()
        self.batcher = batcher
        self.metrics.ready.set(1)
        log.info("ready: serving %s as %r on %s (threads=%d, max_batch=%d, batch_wait_ms=%g)", info.name,
                 self.settings.name, self.model.runtime_name, self.model.threads, self.settings.max_batch,
                 self.settings.batch_wait_ms)

    def _fit_memory(self) -> None:
        """Derive the in-flight memory budget from the memory limit, lowering ``max_pixels`` if one would not fit."""
        limit = self.settings.memory_limit or cgroup_memory_limit()
        if limit is None:
            log.info("no memory limit: work in flight is bounded by PERSONSEG_MAX_QUEUE=%d images only",
                     self.settings.max_queue)
            return
        budget = memory_budget(limit, process_rss())
        max_pixels = fitting_max_pixels(budget, self.settings.max_bytes, self.settings.max_pixels)
        if max_pixels < min(MIN_PIXELS, self.settings.max_pixels):
            raise UserError(f"memory limit of {limit // MIB} MiB leaves {budget // MIB} MiB for requests once the "
                            f"model is loaded, not enough for one {MIN_PIXELS // 1_000_000} MP image "
                            f"({BYTES_PER_PIXEL} bytes per pixel); raise the limit (PERSONSEG_MEMORY_LIMIT or the "
                            "pod's limits.memory) or lower PERSONSEG_MAX_BYTES")
        if max_pixels < self.settings.max_pixels:
            log.warning("PERSONSEG_MAX_PIXELS=%d lowered to %d so that one largest request fits in the memory "
                        "budget", self.settings.max_pixels, max_pixels)
            self.limits = ImageLimits(self.settings.max_bytes, max_pixels,
                                      "PERSONSEG_MAX_PIXELS, lowered to fit PERSONSEG_MEMORY_LIMIT")
        self.admission.budget = budget
        log.info("memory: limit %d MiB, %d MiB for requests in flight (%d bytes per pixel, largest image %d pixels)",
                 limit // MIB, budget // MIB, BYTES_PER_PIXEL, max_pixels)

    def stop(self) -> None:
        """Finish queued inferences, then the worker pool (called after in-flight requests drained)."""
        self._stopping = True
        self.metrics.ready.set(0)
        if self.batcher is not None:
            self.batcher.close(timeout=self.settings.shutdown_timeout_s)
        if self.pool is not None:
            self.pool.shutdown(wait=True)

    # -- requests --------------------------------------------------------------------------------

    def require_ready(self) -> MicroBatcher:
        """The batcher, or 503 while loading (or after a failed load)."""
        if self.batcher is None or not self.model.ready:
            raise NotReady(f"model failed to load: {self.load_error}" if self.load_error else NOT_READY)
        return self.batcher

    def admit(self, ticket: Ticket, images: int, nbytes: int) -> None:
        """Count a request's images and reserve its body's bytes, or 503 (``personseg.serving.admission``)."""
        self.require_ready()
        self.admission.enter(ticket, images, nbytes)

    async def _run(self, fn: Callable[..., T], *args: Any) -> T:
        return await asyncio.get_running_loop().run_in_executor(self.pool, fn, *args)

    @staticmethod
    async def _logits(batcher: MicroBatcher, tensors: list[np.ndarray], ticket: Ticket,
                      announced: int = 0) -> list[Inference]:
        """Queue the tensors for inference unless the client left; cancelled with the ticket if it leaves.

        All of them are announced to the batcher before the first is queued (``announced`` of them were
        already, while they were decoded), so it waits for the rest of them rather than run the first alone.
        """
        batcher.expect(len(tensors) - announced)
        futures: list[Inference] = []
        try:
            ticket.check()
            for tensor in tensors:
                futures.append(batcher.submit(tensor, expected=True))
        finally:
            if len(futures) < len(tensors):
                batcher.unexpect(len(tensors) - len(futures))
        ticket.track(futures)
        try:
            await asyncio.gather(*(asyncio.wrap_future(f) for f in futures))
            return futures
        except asyncio.CancelledError:
            task = asyncio.current_task()
            if ticket.gone and task is not None and not task.cancelling():  # our futures, not this task
                raise ClientGone("the client closed the connection") from None
            raise

    def _prepare(self, data: bytes, ticket: Ticket) -> tuple[Image.Image, Prepared]:
        image = decode_image(data, self.limits, "image",
                             lambda pixels: self.admission.reserve(ticket, pixels * BYTES_PER_PIXEL))
        return image, self.model.preprocess(image)

    def _background(self, data: bytes, ticket: Ticket) -> Image.Image:
        return decode_image(data, self.limits, "background",
                            lambda pixels: self.admission.reserve(ticket, pixels * BACKGROUND_BYTES_PER_PIXEL))

    def _render(self, output: str, image: Image.Image, prepared: Prepared, logits: np.ndarray,
                background: tuple[int, int, int] | Image.Image | None, alpha: str) -> bytes:
        prob = self.model.postprocess(logits[0], prepared)
        return compose.render(output, image, prob, background, alpha)

    async def segment(self, upload: Upload, output: str | None, colour: str | None, ticket: Ticket,
                      alpha: str | None = None, timeline: Timeline | None = None) -> bytes:
        """``/v1/segment``: encoded image in, PNG (mask, probability, cutout or composite) out.

        The work runs as a ``SegmentJob`` (pool, inference thread, pool); where the time went is recorded in
        ``timeline`` and in the metrics.
        """
        timeline = timeline or Timeline()
        output = compose.parse_output(output)
        alpha = compose.parse_alpha(alpha, output)
        if (colour is not None or upload.background is not None) and output != "composite":
            raise RequestError("a background is only used with output=composite", kind="bad_parameter")
        if colour is not None and upload.background is not None:
            raise RequestError("give the background either as ?background=RRGGBB or as an uploaded "
                               "'background' part, not both", kind="bad_parameter")
        background: tuple[int, int, int] | Image.Image | None = compose.parse_colour(colour) if colour else None
        batcher = self.require_ready()

        def prepare() -> tuple[tuple, np.ndarray]:
            image, prepared = self._prepare(upload.image, ticket)
            backdrop = background if upload.background is None else self._background(upload.background, ticket)
            return (image, prepared, backdrop), prepared.tensor

        def render(kept: tuple, logits: np.ndarray) -> bytes:
            image, prepared, backdrop = kept
            return self._render(output, image, prepared, logits, backdrop, alpha)

        job = SegmentJob(asyncio.get_running_loop(), self.pool, batcher, ticket, timeline, prepare, render)
        png = await job.run()
        self.metrics.observe_stages(timeline.finish())
        return png

    def infer_body_limit(self) -> int:
        """Largest v2 JSON body accepted (``max_batch`` images as decimal text)."""
        self.require_ready()
        return oip.max_request_bytes(self.model.image_size, self.settings.max_batch)

    def _respond(self, req: oip.InferRequest, inferences: list[Inference]) -> bytes:
        return oip.infer_response(self.settings.name, req.id, sigmoid(np.stack([f.result() for f in inferences])))

    async def infer(self, body: bytes, ticket: Ticket) -> bytes:
        """``/v2/models/<name>/infer``: a validated FP32 tensor in, probabilities out (JSON bytes)."""
        self.require_ready()
        req = await self._run(oip.parse_infer, body, self.model.image_size)
        batcher = self.require_ready()
        self.admission.enter(ticket, len(req.batch) - 1, 0)  # the first image was admitted on arrival
        logits = await self._logits(batcher, list(req.batch), ticket)
        return await self._run(self._respond, req, logits)
