"""uvicorn's HTTP protocol with a deadline for request headers, a cap on their size and a bound on open connections.

The parser is httptools (llhttp, in C) when it is installed, as uvicorn's ``http="auto"`` picks it, and
h11 (pure Python) otherwise: on a 2-core server h11 took about a third of the event loop's CPU per
``/v1/segment`` request, and every CPU millisecond outside the model is taken from it. Both get the
same guards below.

uvicorn (0.55, ``protocols/http/h11_impl.py`` and ``httptools_impl.py``) closes a connection only when
it idles between two requests (``timeout_keep_alive``, armed when an answer completes). A connection
that never sends, or that trickles its header bytes, stayed open for as long as its client liked, and
every one of them was accepted. Here a connection must finish each request's headers within ``header_timeout_s`` of
its first byte (or of opening, for the first request), and a connection beyond ``max_connections``
is closed as soon as it is accepted. uvicorn's own ``limit_concurrency`` is not used: it accepts the
connection and answers 503 only once headers arrive, so it bounds neither slow nor idle clients.
The body has its own deadline (``personseg.serving.guard``). Request headers are capped at
``MAX_HEADER_BYTES`` (h11's own default, 16 KiB; httptools has no cap) and a request over it gets 400.

Every TCP connection gets ``TCP_NODELAY``. asyncio sets it only on sockets whose ``proto`` is
``IPPROTO_TCP`` (CPython 3.11 ``asyncio/base_events.py``: ``_set_nodelay``), and a listening socket
from ``socket.create_server``, as the server and Kubernetes' socket hand-over make, has ``proto`` 0:
without it Nagle's algorithm holds the body of each keep-alive answer until the client's delayed
acknowledgement of its headers, 40 ms later on Linux.
"""

from __future__ import annotations

import asyncio
import importlib
import logging
import socket

from uvicorn.protocols.http.h11_impl import H11Protocol

from personseg.errors import UserError
from personseg.serving.settings import PARSERS

log = logging.getLogger(__name__)
MAX_HEADER_BYTES = 16 * 1024  # h11's DEFAULT_MAX_INCOMPLETE_EVENT_SIZE, applied to both parsers


class Guard:
    """A header deadline, a header size cap and a connection cap (class attributes, set by ``guarded``).

    Mixed into uvicorn's ``H11Protocol`` or ``HttpToolsProtocol``: both keep the connection set in
    ``connections``, the current request in ``cycle`` and offer ``send_400_response``.
    """

    header_timeout_s: float = 10.0
    max_connections: int = 1000
    max_header_bytes: int = MAX_HEADER_BYTES
    _header_timer: asyncio.TimerHandle | None = None
    _header_bytes: int = 0

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        """Accept (no Nagle delay), or close at once when ``max_connections`` are open; start the header clock."""
        super().connection_made(transport)
        sock = transport.get_extra_info("socket")
        if sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if len(self.connections) > self.max_connections:
            log.warning("%d connections open (PERSONSEG_MAX_CONNECTIONS=%d): closing a new one", len(self.connections),
                        self.max_connections)
            transport.close()
            return
        self._arm()

    def data_received(self, data: bytes) -> None:
        """Start the header clock at a request's first byte; stop it once its headers are complete."""
        before = self.cycle
        if self._header_timer is None and (before is None or before.response_complete):
            self._arm()
        if self._header_timer is not None:
            self._header_bytes += len(data)
        super().data_received(data)
        if self.cycle is not before:
            self._disarm()
        elif self._header_bytes > self.max_header_bytes and self._header_timer is not None:
            self._disarm()
            if not self.transport.is_closing():
                log.info("closing a connection from %s: request headers over %d bytes",
                         self.client[0] if self.client else "?", self.max_header_bytes)
                self.send_400_response(f"Request headers over {self.max_header_bytes} bytes.")

    def connection_lost(self, exc: Exception | None) -> None:
        """Stop the header clock with the connection."""
        self._disarm()
        super().connection_lost(exc)

    def _arm(self) -> None:
        self._disarm()
        self._header_bytes = 0
        self._header_timer = self.loop.call_later(self.header_timeout_s, self._headers_too_slow)

    def _disarm(self) -> None:
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None

    def _headers_too_slow(self) -> None:
        self._header_timer = None
        if not self.transport.is_closing():
            log.info("closing a connection from %s: no complete request headers within %g s "
                     "(PERSONSEG_HEADER_TIMEOUT_S)", self.client[0] if self.client else "?", self.header_timeout_s)
            self.transport.close()


def parser_base(parser: str = "auto") -> type[asyncio.Protocol]:
    """Uvicorn's protocol class for ``parser`` (one of ``PARSERS``); ``auto``: httptools if installed, else h11."""
    if parser not in PARSERS:
        raise UserError(f"setting http={parser!r}: expected one of {', '.join(PARSERS)}")
    if parser == "h11":
        return H11Protocol
    try:
        importlib.import_module("httptools")
        from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
    except ImportError:
        if parser == "httptools":
            raise UserError("setting http='httptools': the httptools package is not installed") from None
        return H11Protocol
    return HttpToolsProtocol


def guarded(header_timeout_s: float, max_connections: int, parser: str = "auto") -> type[asyncio.Protocol]:
    """Uvicorn's protocol for ``parser`` with these limits (``Guard``), for ``uvicorn.Config(http=...)``."""
    base = parser_base(parser)
    name = "Guarded" + base.__name__
    return type(name, (Guard, base), {"header_timeout_s": header_timeout_s, "max_connections": max_connections})
