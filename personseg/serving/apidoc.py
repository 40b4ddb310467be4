"""What ``/openapi.json`` and ``/docs`` say about each route: bodies, parameters, responses and errors.

The routes read their bodies themselves (to bound them, ``personseg.serving.upload``), so FastAPI cannot
infer the request bodies: they are declared here, as are the JSON shapes the routes answer with and
every error status a route can give. ``/docs`` is FastAPI's Swagger UI page with its script and style
served by this server (from the ``fastapi-offline`` package), so it works without internet access.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.openapi.utils import get_openapi
from fastapi.responses import HTMLResponse, Response
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel, Field

from personseg.serving.compose import ALPHAS, OUTPUTS

DOCS_URL = "/docs"
ASSETS_URL = "/docs/assets"
OPENAPI_URL = "/openapi.json"


class ErrorBody(BaseModel):
    """Every error: one sentence naming the field, value or limit at fault."""

    error: str = Field(examples=["request body is 30000000 bytes, over this server's limit of 20971520 "
                                 "(PERSONSEG_MAX_BYTES)"])


class Live(BaseModel):
    """``GET /v2/health/live``."""

    live: bool


class Ready(BaseModel):
    """``GET /v2/health/ready``: ``error`` says why not (loading, or the load failure)."""

    ready: bool
    error: str | None = None


class ModelReady(BaseModel):
    """``GET /v2/models/{name}/ready``."""

    name: str
    ready: bool


class ServerMetadata(BaseModel):
    """``GET /v2``."""

    name: str
    version: str
    extensions: list[str]


class TensorMetadata(BaseModel):
    """A tensor's name, type and shape; -1 marks the variable batch dimension."""

    name: str
    datatype: str
    shape: list[int]


class ModelMetadata(BaseModel):
    """``GET /v2/models/{name}``: ``platform`` is ``<runtime>_<format>`` as Triton names them."""

    name: str
    versions: list[str] = Field(description="the served model's version (its card's, or a digest of its files)")
    platform: str
    inputs: list[TensorMetadata]
    outputs: list[TensorMetadata]


class InferInput(BaseModel):
    """The one input tensor: RGB in [0, 1], letterboxed to the model's size, flat or nested."""

    name: str = Field(examples=["input"])
    datatype: str = Field(examples=["FP32"])
    shape: list[int] = Field(examples=[[1, 3, 256, 256]])
    data: list[Any]


class OutputRequest(BaseModel):
    """An output asked for by name (only ``probabilities`` exists)."""

    name: str = Field(examples=["probabilities"])


class InferRequest(BaseModel):
    """An Open Inference Protocol v2 request (JSON tensors; the binary extension is not supported)."""

    id: str | None = None
    inputs: list[InferInput]
    outputs: list[OutputRequest] | None = None


class InferOutput(BaseModel):
    """The probabilities, [N, 1, S, S], flat."""

    name: str
    shape: list[int]
    datatype: str
    data: list[float]


class InferResponse(BaseModel):
    """An Open Inference Protocol v2 response; ``id`` echoes the request's."""

    model_name: str
    id: str | None = None
    outputs: list[InferOutput]


def _errors(*codes: int) -> dict[int | str, dict[str, Any]]:
    meaning = {
        400: "a malformed request: the message names the field or value",
        404: "no model of that name on this server",
        408: "the body did not arrive within PERSONSEG_BODY_TIMEOUT_S (the connection is closed)",
        413: "the body, the image's bytes or its pixels are over the server's limits (named)",
        415: "an image format the server does not decode",
        500: "the model failed on this request",
        503: "not ready, or busy (too many images or bytes in flight): retry after Retry-After seconds",
    }
    return {code: {"model": ErrorBody, "description": meaning[code]} for code in codes}


def _json(model: type[BaseModel], description: str) -> dict[int | str, dict[str, Any]]:
    return {200: {"model": model, "description": description}}


PNG = {"content": {"image/png": {"schema": {"type": "string", "format": "binary"}}}}
IMAGE_BODY = {"type": "string", "format": "binary",
              "description": "JPEG, PNG, WebP, BMP or TIFF, up to PERSONSEG_MAX_BYTES and PERSONSEG_MAX_PIXELS"}

SEGMENT: dict[str, Any] = {
    "summary": "Segment a photo: a mask, probability map, cutout or composite PNG",
    "description": (
        "Send the photo as the raw body (any image content type) or as a multipart `image` part; a composite "
        "may take its background as a second multipart part `background`. `output`: "
        + ", ".join(OUTPUTS) + ". A pixel is person where the model's probability is above 0.5. `alpha` "
        "(cutout and composite only): `clean` feathers the mask over 2 px, `soft` uses the probability."),
    "response_class": Response,
    "responses": {200: {**PNG, "description": "the PNG, at the photo's size"},
                  **_errors(400, 408, 413, 415, 500, 503)},
    "openapi_extra": {"requestBody": {"required": True, "content": {
        "image/*": {"schema": IMAGE_BODY},
        "application/octet-stream": {"schema": IMAGE_BODY},
        "multipart/form-data": {"schema": {"type": "object", "required": ["image"], "properties": {
            "image": IMAGE_BODY,
            "background": {**IMAGE_BODY, "description": "a picture to put behind the person (output=composite)"},
        }}},
    }}},
}
SEGMENT_PARAMETERS = {
    "output": {"description": "what to return", "json_schema_extra": {"enum": list(OUTPUTS)},
               "examples": ["cutout"]},
    "background": {"description": "composite only: the colour behind the person, RRGGBB hex (default ffffff)",
                   "examples": ["00ff00"]},
    "alpha": {"description": "cutout and composite only: clean (default) or soft",
              "json_schema_extra": {"enum": list(ALPHAS)}},
}

INFER: dict[str, Any] = {
    "summary": "Open Inference Protocol v2 inference on letterboxed RGB tensors",
    "description": ("One FP32 tensor `input` [N, 3, S, S] (RGB / 255, letterboxed to the model's size S as in "
                    "`GET /v2/models/{name}`), N up to PERSONSEG_MAX_BATCH; answers `probabilities` [N, 1, S, S]."),
    "response_model": InferResponse,
    "responses": {**_errors(400, 404, 408, 413, 500, 503)},
    "openapi_extra": {"requestBody": {"required": True, "content": {
        "application/json": {"schema": {"$ref": "#/components/schemas/InferRequest"}}}}},
}

ROUTES: dict[str, dict[str, Any]] = {
    "live": {"summary": "Liveness: the process answers", "responses": _json(Live, "always")},
    "ready": {"summary": "Readiness: the model is loaded and warmed up",
              "responses": {**_json(Ready, "ready"), 503: {"model": Ready, "description": "loading or failed"}}},
    "server_metadata": {"summary": "Server name and version (v2)", "responses": _json(ServerMetadata, "metadata")},
    "model_metadata": {"summary": "The model's input and output tensors (v2)",
                       "responses": {**_json(ModelMetadata, "metadata"), **_errors(404, 503)}},
    "model_ready": {"summary": "Is this model ready (v2)",
                    "responses": {**_json(ModelReady, "ready"), 503: {"model": ModelReady, "description": "not ready"},
                                  **_errors(404)}},
    "infer": INFER,
    "segment": SEGMENT,
    "metrics": {"summary": "Prometheus metrics (on PERSONSEG_METRICS_PORT alone when that is set)",
                "response_class": Response,
                "responses": {200: {"content": {"text/plain": {"schema": {"type": "string"}}},
                                    "description": "Prometheus text format"}}},
}


def openapi_schema(app: FastAPI) -> dict[str, Any]:
    """FastAPI's schema, with the bodies declared above and without its 422s (this server answers 400)."""
    if app.openapi_schema is None:
        schema = get_openapi(title=app.title, version=app.version, description=app.description, routes=app.routes)
        for operations in schema["paths"].values():
            for operation in operations.values():
                operation["responses"].pop("422", None)
        schemas = schema["components"]["schemas"]
        for name in ("HTTPValidationError", "ValidationError"):
            schemas.pop(name, None)
        body = InferRequest.model_json_schema(ref_template="#/components/schemas/{model}")
        schemas.update(body.pop("$defs", {}), InferRequest=body)
        app.openapi_schema = schema
    return app.openapi_schema


def add_docs(app: FastAPI) -> None:
    """Serve ``/docs`` with Swagger UI's files from this server (the app serves ``OPENAPI_URL`` itself)."""
    from fastapi_offline.core import _STATIC_PATH  # the package's own copy of Swagger UI

    app.openapi = lambda: openapi_schema(app)  # type: ignore[method-assign]
    app.mount(ASSETS_URL, StaticFiles(directory=Path(_STATIC_PATH)), name="docs-assets")

    @app.get(DOCS_URL, include_in_schema=False)
    async def swagger(request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "")
        return get_swagger_ui_html(openapi_url=f"{root}{OPENAPI_URL}", title=f"{app.title} API",
                                   swagger_js_url=f"{root}{ASSETS_URL}/swagger-ui-bundle.js",
                                   swagger_css_url=f"{root}{ASSETS_URL}/swagger-ui.css",
                                   swagger_favicon_url=f"{root}{ASSETS_URL}/favicon.png")
