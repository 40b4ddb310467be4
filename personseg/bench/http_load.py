"""A lean HTTP/1.1 keep-alive client for load tests: one request at a time per connection, nothing more.

When the client and the server share the machine's cores, every CPU millisecond the client spends is
taken from the model and counted against the server. httpx spends about 2.5 ms of CPU per request on
the 2-core machine ``personseg bench serve`` was developed on; this client sends each request in one
write (headers and body together) and reads the answer by its ``Content-Length``, which is all a load
test of ``/v1/segment`` needs, for a small fraction of that. (Load generators such as wrk or hey are
written to stay out of the way for the same reason.)
"""

from __future__ import annotations

import asyncio
from urllib.parse import urlsplit

MAX_HEADER_LINES = 100


class HttpError(Exception):
    """The server answered something this client does not read, or closed the connection early."""


class Connection:
    """One keep-alive connection to ``url``'s host, opened on first use and again after the server closes it."""

    def __init__(self, url: str) -> None:
        parts = urlsplit(url)
        if parts.scheme != "http" or not parts.hostname:
            raise ValueError(f"{url}: expected http://host:port")
        self.host, self.port = parts.hostname, parts.port or 80
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def post(self, path: str, body: bytes, content_type: str = "application/octet-stream") -> tuple[int, bytes]:
        """POST ``body`` to ``path``; the status code and the answer's body."""
        if self.writer is None or self.writer.is_closing():
            self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        head = (f"POST {path} HTTP/1.1\r\nHost: {self.host}:{self.port}\r\nContent-Type: {content_type}\r\n"
                f"Content-Length: {len(body)}\r\n\r\n").encode("latin-1")
        try:
            self.writer.write(head + body)
            await self.writer.drain()
            return await self._answer()
        except BaseException:
            self.close()
            raise

    async def _answer(self) -> tuple[int, bytes]:
        assert self.reader is not None
        status_line = await self.reader.readline()
        if not status_line:
            raise HttpError("the server closed the connection without answering")
        status = int(status_line.split()[1])
        length, close = 0, False
        for _ in range(MAX_HEADER_LINES):
            line = await self.reader.readline()
            if line in (b"\r\n", b""):
                break
            name, _, value = line.decode("latin-1").partition(":")
            name, value = name.strip().lower(), value.strip().lower()
            if name == "content-length":
                length = int(value)
            elif name == "transfer-encoding":
                raise HttpError(f"answer with Transfer-Encoding {value}: only Content-Length is read")
            elif name == "connection" and value == "close":
                close = True
        else:
            raise HttpError(f"answer with more than {MAX_HEADER_LINES} header lines")
        data = await self.reader.readexactly(length)
        if close:
            self.close()
        return status, data

    def close(self) -> None:
        """Close the connection (the next request opens another)."""
        if self.writer is not None:
            self.writer.close()
            self.writer = None
