"""``POST /v1/segment``: a photo in, a mask, probability map, cutout or composite PNG out.

The route only bounds and reads the body (raw or multipart); ``SegmentationService.segment`` does the work.
"""

from __future__ import annotations

from fastapi import FastAPI, Query, Request
from fastapi.responses import Response

from personseg.serving import apidoc
from personseg.serving.service import SegmentationService
from personseg.serving.ticket import ticket_of
from personseg.serving.timeline import Timeline
from personseg.serving.upload import Upload, body_reservation, is_multipart, parse_multipart, read_body

MULTIPART_SLACK = 64 * 1024  # room for the part headers and boundaries around two images


class SegmentEndpoints:
    """personseg's own image API."""

    def __init__(self, service: SegmentationService) -> None:
        self.service = service

    async def segment(self, request: Request,
                      output: str | None = Query(None, **apidoc.SEGMENT_PARAMETERS["output"]),
                      background: str | None = Query(None, **apidoc.SEGMENT_PARAMETERS["background"]),
                      alpha: str | None = Query(None, **apidoc.SEGMENT_PARAMETERS["alpha"])) -> Response:
        """Admit the request, read its image (and background), answer the PNG."""
        timeline, service, max_bytes = Timeline(), self.service, self.service.settings.max_bytes
        ticket, multipart = ticket_of(request.scope), is_multipart(request)
        limit = 2 * max_bytes + MULTIPART_SLACK if multipart else max_bytes
        service.admit(ticket, 1, body_reservation(request, limit))
        if multipart:
            upload = await parse_multipart(request, await read_body(request, limit), max_bytes)
        else:
            upload = Upload(await read_body(request, limit))
        timeline.mark_read()
        png = await service.segment(upload, output, background, ticket, alpha, timeline)
        return Response(png, media_type="image/png")


def add_segment_routes(app: FastAPI, service: SegmentationService) -> None:
    """Add ``/v1/segment`` to ``app``."""
    app.add_api_route("/v1/segment", SegmentEndpoints(service).segment, methods=["POST"],
                         **apidoc.ROUTES["segment"])
