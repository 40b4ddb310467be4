"""The KServe Open Inference Protocol v2 routes: health, metadata and ``/v2/models/<name>/infer``.

Grouped per protocol in a class holding the service, as KServe's Python server does
(``kserve/protocol/rest/v2_endpoints.py``: ``V2Endpoints`` methods registered by ``add_api_route``).
"""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response

from personseg.serving import apidoc, oip
from personseg.serving.admission import JSON_BYTES_FACTOR
from personseg.serving.errors import RequestError
from personseg.serving.service import SegmentationService
from personseg.serving.ticket import ticket_of
from personseg.serving.upload import body_reservation, read_body


class V2Endpoints:
    """Open Inference Protocol v2 over HTTP/JSON for the one model ``service`` serves."""

    def __init__(self, service: SegmentationService) -> None:
        self.service = service

    def _check_name(self, name: str) -> None:
        if name != self.service.settings.name:
            raise RequestError(f"model {name!r} not found; this server serves {self.service.settings.name!r}",
                               status=404, kind="unknown_model")

    async def live(self) -> dict:
        """The process answers."""
        return {"live": True}

    async def ready(self) -> JSONResponse:
        """Loaded and warmed up, else 503 with the reason."""
        if self.service.ready:
            return JSONResponse({"ready": True})
        return JSONResponse({"ready": False, "error": self.service.load_error or "model is loading"}, status_code=503)

    async def server_metadata(self) -> dict:
        """Server name, version and extensions."""
        return oip.server_metadata()

    async def model_metadata(self, name: str) -> dict:
        """The model's input and output tensors."""
        self._check_name(name)
        self.service.require_ready()
        model = self.service.model
        return oip.model_metadata(name, model.version, model.image_size, model.info.kind, model.runtime_name)

    async def model_ready(self, name: str) -> JSONResponse:
        """Is this model ready."""
        self._check_name(name)
        return JSONResponse({"name": name, "ready": self.service.ready}, status_code=200 if self.service.ready else 503)

    async def infer(self, name: str, request: Request) -> Response:
        """A JSON tensor in, probabilities out; the body is bounded before it is read."""
        self._check_name(name)
        ticket, limit = ticket_of(request.scope), self.service.infer_body_limit()
        self.service.admit(ticket, 1, body_reservation(request, limit) * JSON_BYTES_FACTOR)
        body = await read_body(request, limit, "max_batch images of JSON")
        return Response(await self.service.infer(body, ticket), media_type="application/json")


def add_v2_routes(app: FastAPI, service: SegmentationService) -> None:
    """Add the v2 routes to ``app``, in the order ``/openapi.json`` lists them."""
    endpoints = V2Endpoints(service)
    app.add_api_route("/v2/health/live", endpoints.live, methods=["GET"], **apidoc.ROUTES["live"])
    app.add_api_route("/v2/health/ready", endpoints.ready, methods=["GET"], **apidoc.ROUTES["ready"])
    app.add_api_route("/v2", endpoints.server_metadata, methods=["GET"], **apidoc.ROUTES["server_metadata"])
    app.add_api_route("/v2/models/{name}", endpoints.model_metadata, methods=["GET"],
                      **apidoc.ROUTES["model_metadata"])
    app.add_api_route("/v2/models/{name}/ready", endpoints.model_ready, methods=["GET"],
                      **apidoc.ROUTES["model_ready"])
    app.add_api_route("/v2/models/{name}/infer", endpoints.infer, methods=["POST"], **apidoc.ROUTES["infer"])
