"""Read request bodies with a hard size cap, and pull image parts out of multipart uploads.

The cap is checked against ``Content-Length`` before reading and again while streaming (chunked
uploads have no length), so an oversized upload is refused without being held in memory. Multipart
parts are kept in memory (the body is already capped) rather than spooled to temporary files.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass

from starlette.datastructures import UploadFile
from starlette.formparsers import MultiPartException, MultiPartParser
from starlette.requests import Request

from personseg.serving.errors import RequestError

MULTIPART_OVERHEAD = 64 * 1024


@dataclass(frozen=True)
class Upload:
    """The bytes a ``/v1/segment`` request carried."""

    image: bytes
    background: bytes | None = None


def _too_big(size: int | str, limit: int, setting: str) -> RequestError:
    return RequestError(f"request body is {size} bytes, over this server's limit of {limit} ({setting})",
                        status=413, kind="too_many_bytes")


def body_reservation(request: Request, limit: int) -> int:
    """Bytes to reserve for the body before reading it: its ``Content-Length``, or ``limit`` if chunked."""
    declared = request.headers.get("content-length", "")
    return min(int(declared), limit) if declared.isdigit() else limit


async def read_body(request: Request, limit: int, setting: str = "PERSONSEG_MAX_BYTES") -> bytes:
    """The whole body, or a 413 as soon as it is known to exceed ``limit``."""
    declared = request.headers.get("content-length")
    if declared is not None:
        if not declared.isdigit():
            raise RequestError(f"Content-Length {declared!r} is not a number")
        if int(declared) > limit:
            raise _too_big(declared, limit, setting)
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise _too_big(f"more than {limit}", limit, setting)
        chunks.append(chunk)
    return b"".join(chunks)


def is_multipart(request: Request) -> bool:
    """True for ``multipart/form-data`` uploads."""
    return request.headers.get("content-type", "").lower().startswith("multipart/form-data")


async def _replay(body: bytes) -> AsyncIterator[bytes]:
    yield body


async def parse_multipart(request: Request, body: bytes, max_part: int) -> Upload:
    """The ``image`` file part and optional ``background`` file part of a multipart body."""
    parser = MultiPartParser(request.headers, _replay(body), max_files=2, max_fields=4, max_part_size=max_part)
    parser.spool_max_size = max_part + 1  # keep file parts in memory; the body is already capped
    try:
        form = await parser.parse()
    except MultiPartException as exc:
        raise RequestError(f"multipart body: {exc.message}", kind="bad_multipart") from None
    try:
        unknown = sorted(set(form.keys()) - {"image", "background"})
        if unknown:
            raise RequestError(f"multipart body: unexpected part(s) {', '.join(unknown)}; "
                               "send 'image' and optionally 'background'", kind="bad_multipart")
        image = await _file_part(form.get("image"), "image")
        if image is None:
            raise RequestError("multipart body has no 'image' part", kind="bad_multipart")
        background = await _file_part(form.get("background"), "background")
        return Upload(image, background)
    finally:
        await form.close()


async def _file_part(part: UploadFile | str | None, name: str) -> bytes | None:
    if part is None:
        return None
    if not isinstance(part, UploadFile):
        raise RequestError(f"multipart part '{name}' must be a file upload (with a filename)",
                           kind="bad_multipart")
    return await part.read()
