"""Admission: a bound on images in flight and on the memory they may hold, answered beyond it with 503.

A request is counted from its arrival to the end of its answer (body, decode, inference, encoding),
not only while it waits for the inference thread: decoding and encoding are where the memory goes.
Two bounds apply, both checked without waiting (a request over either gets 503 and ``Retry-After``):

- images in flight <= ``PERSONSEG_MAX_QUEUE``;
- reserved bytes <= the memory budget. A request reserves its body's size (``Content-Length``, or the
  body limit when it is chunked) on arrival, then ``BYTES_PER_PIXEL`` for each decoded pixel once the
  image header has been read and before any pixel is decoded. v2 JSON bodies reserve
  ``JSON_BYTES_FACTOR`` times their size (Python floats, the array and the response).

The budget is derived from the memory limit (the pod's cgroup limit unless ``PERSONSEG_MEMORY_LIMIT``
says otherwise): budget = limit - the server's RSS once the model is warm - ``HEADROOM``. The largest
request the limits allow costs ``max_bytes + max_pixels * BYTES_PER_PIXEL``; if that exceeds the
budget, ``max_pixels`` is lowered until one fits, so at least
floor(budget / (max_bytes + max_pixels * BYTES_PER_PIXEL)) of the largest requests (and more smaller
ones) run at once and no accepted load exceeds the limit. Without a memory limit only the image
count applies.
"""

from __future__ import annotations

import threading

from personseg.serving.errors import RequestError
from personseg.serving.ticket import Ticket

MIB = 1024 * 1024
# Peak bytes per decoded pixel from decode to the encoded PNG, for the costliest output (composite:
# 24.3 measured on a 36 MP JPEG; mask and cutout 20.2), with margin. ``benchmarks/server_load.py``
# checks the resulting peak RSS against the limit.
BYTES_PER_PIXEL = 28
BACKGROUND_BYTES_PER_PIXEL = 8  # an uploaded background: decoded, converted, then scaled to the image
JSON_BYTES_FACTOR = 4  # a v2 body as Python floats (32 B per value), its array and the response text
HEADROOM = 64 * MIB  # allocator slack, HTTP buffers and the event loop's own objects
RETRY_AFTER_S = 1


class Busy(RequestError):
    """Over a bound on work in flight: 503, to be retried (here or at another replica)."""

    def __init__(self, message: str) -> None:
        super().__init__(message, status=503, kind="busy")


class Admission:
    """Counts images and reserved bytes of the requests in flight; thread-safe (decode runs in a pool).

    Args:
        max_images: images in flight beyond which new requests are refused.
        budget: bytes requests may reserve; None: no memory bound.
    """

    def __init__(self, max_images: int, budget: int | None = None) -> None:
        self.max_images = max_images
        self.budget = budget
        self.images = 0
        self.reserved = 0
        self._lock = threading.Lock()

    def enter(self, ticket: Ticket, images: int, nbytes: int) -> None:
        """Admit ``images`` more images and ``nbytes`` more bytes for ``ticket``, or raise ``Busy``/413."""
        with self._lock:
            if self.images + images > self.max_images:
                raise Busy(f"server busy: {self.images} images in flight (PERSONSEG_MAX_QUEUE={self.max_images}); "
                           "retry shortly")
            self._reserve(nbytes)
            self.images += images
            ticket.images += images
            ticket.reserved += nbytes

    def reserve(self, ticket: Ticket, nbytes: int) -> None:
        """Reserve ``nbytes`` more for ``ticket`` (a decoded image), or raise ``Busy``/413."""
        with self._lock:
            self._reserve(nbytes)
            ticket.reserved += nbytes

    def _reserve(self, nbytes: int) -> None:
        if self.budget is None:
            self.reserved += nbytes
            return
        if nbytes > self.budget:
            raise RequestError(f"request needs about {nbytes // MIB} MiB of memory, more than this server's "
                               f"budget of {self.budget // MIB} MiB (PERSONSEG_MEMORY_LIMIT)", status=413,
                               kind="too_much_memory")
        if self.reserved + nbytes > self.budget:
            raise Busy(f"server busy: {self.reserved // MIB} MiB of its {self.budget // MIB} MiB memory budget "
                       "held by requests in flight; retry shortly")
        self.reserved += nbytes

    def release(self, ticket: Ticket) -> None:
        """Give back everything ``ticket`` holds (once its answer is sent, or it failed)."""
        with self._lock:
            self.images -= ticket.images
            self.reserved -= ticket.reserved
            ticket.images = ticket.reserved = 0


def memory_budget(limit: int, rss: int) -> int:
    """Bytes requests may hold: the limit less the warm server's RSS and ``HEADROOM``."""
    return limit - rss - HEADROOM


def fitting_max_pixels(budget: int, max_bytes: int, max_pixels: int) -> int:
    """``max_pixels``, lowered if needed so that one largest request fits in ``budget`` (0 if none can)."""
    return max(0, min(max_pixels, (budget - max_bytes) // BYTES_PER_PIXEL))
