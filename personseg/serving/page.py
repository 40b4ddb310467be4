"""The page at ``/``: try the model in a browser (choose or drop a photo, see the mask, cutout and composite).

One static HTML file with its script and style inline (``static/page.html``): no build step, nothing
loaded from elsewhere, so it works offline. It calls ``/v1/segment`` like any client, so every limit
of the server applies to it, and shows an error answer's own message. Only the served model name is
filled in here (escaped); the page asks ``/v2/models/<name>`` for the rest.
"""

from __future__ import annotations

import html
from importlib.resources import files

from fastapi import FastAPI
from fastapi.responses import HTMLResponse

PAGE = "page.html"


def page_html(model_name: str) -> str:
    """The page for a server that serves ``model_name``."""
    text = files("personseg.serving").joinpath("static", PAGE).read_text(encoding="utf-8")
    return text.replace("{{MODEL_NAME}}", html.escape(model_name, quote=True))


def add_page(app: FastAPI, model_name: str) -> None:
    """Serve the page at ``/``."""
    body = page_html(model_name)

    @app.get("/", include_in_schema=False, response_class=HTMLResponse)
    async def page() -> HTMLResponse:
        return HTMLResponse(body)
