"""The API people can read: /openapi.json and /docs describe every route (docs/serving.md: test_serving_docs.py)."""

from __future__ import annotations

import re
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import httpx
import pytest
from fastapi.routing import APIRoute
from serving_fixtures import make_tiny_model, running_server

from personseg.serving.settings import ServeSettings

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
# Served but not API operations: the page, the docs page, the schema itself and the docs page's files.
NOT_IN_SCHEMA = {("GET", "/"), ("GET", "/docs"), ("GET", "/openapi.json")}


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    model = make_tiny_model(tmp_path_factory.mktemp("openapi") / "tiny")
    with running_server(ServeSettings(model_uri=str(model), threads=1, batch_wait_ms=1)) as running:
        yield running


@pytest.fixture(scope="module")
def spec(server) -> dict:
    r = httpx.get(f"{server.url}/openapi.json", timeout=10)
    assert r.status_code == 200 and r.headers["content-type"] == "application/json"
    return r.json()


def _operations(server) -> set[tuple[str, str]]:
    """(method, path) of every route the running app answers, HEAD aside."""
    return {(method, route.path) for route in server.server.config.app.routes if isinstance(route, APIRoute)
            for method in route.methods - {"HEAD"}} | {("GET", "/openapi.json")}


def _refs(node) -> list[str]:
    if isinstance(node, dict):
        return [v for k, v in node.items() if k == "$ref"] + [r for v in node.values() for r in _refs(v)]
    if isinstance(node, list):
        return [r for v in node for r in _refs(v)]
    return []


def test_openapi_paths_are_the_apps_routes(server, spec):
    documented = {(method.upper(), path) for path, ops in spec["paths"].items() for method in ops}
    assert documented == _operations(server) - NOT_IN_SCHEMA
    assert {("POST", "/v2/models/{name}/infer"), ("GET", "/v2/health/ready"), ("POST", "/v1/segment")} <= documented
    schemas = spec["components"]["schemas"]
    for ref in _refs(spec):
        assert ref.removeprefix("#/components/schemas/") in schemas, ref


def test_every_operation_has_a_summary_responses_and_its_errors(spec):
    for path, ops in spec["paths"].items():
        for method, op in ops.items():
            assert op.get("summary") and "200" in op["responses"], (method, path)
            assert all(r.get("description") for r in op["responses"].values()), (method, path)
            assert "422" not in op["responses"]  # the server answers a bad parameter with 400
            for code, response in op["responses"].items():
                if code.startswith(("4", "5")) and path != "/v2/health/ready" and not path.endswith("/ready"):
                    assert response["content"]["application/json"]["schema"] == {
                        "$ref": "#/components/schemas/ErrorBody"}, (method, path, code)
    segment = spec["paths"]["/v1/segment"]["post"]
    assert {"400", "408", "413", "415", "503"} <= set(segment["responses"])
    assert set(segment["responses"]["200"]["content"]) == {"image/png"}
    assert {"image/*", "multipart/form-data"} <= set(segment["requestBody"]["content"])
    assert segment["requestBody"]["content"]["multipart/form-data"]["schema"]["required"] == ["image"]
    params = {p["name"]: p["schema"] for p in segment["parameters"]}
    assert params["output"]["enum"] == ["mask", "probability", "cutout", "composite"]
    assert params["alpha"]["enum"] == ["clean", "soft"] and "background" in params
    infer = spec["paths"]["/v2/models/{name}/infer"]["post"]
    body = infer["requestBody"]["content"]["application/json"]["schema"]
    assert body == {"$ref": "#/components/schemas/InferRequest"}
    assert infer["responses"]["200"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/InferResponse"}
    assert [p["name"] for p in infer["parameters"]] == ["name"]


class _Assets(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.urls += [v or "" for k, v in attrs if k in ("src", "href")]


def test_docs_page_loads_only_from_this_server(server):
    page = httpx.get(f"{server.url}/docs", timeout=10)
    assert page.status_code == 200 and "SwaggerUIBundle" in page.text
    parser = _Assets()
    parser.feed(page.text)
    assert len(parser.urls) >= 3
    for url in parser.urls:
        assert url.startswith("/docs/assets/"), url  # no CDN: the page works offline
        assert httpx.get(f"{server.url}{url}", timeout=10).status_code == 200
    assert "url: '/openapi.json'" in page.text


@pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (apt-get install chromium; .ci/run does)")
def test_docs_page_renders_every_route_in_headless_chromium(server, spec, tmp_path):
    out = subprocess.run([CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                          "--disable-background-networking", "--disable-component-update", "--disable-sync",
                          f"--user-data-dir={tmp_path / 'profile'}", "--virtual-time-budget=10000", "--dump-dom",
                          f"{server.url}/docs"], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    rendered = set(re.findall(r'data-path="([^"]+)"', out.stdout))
    assert rendered == set(spec["paths"]), out.stdout[:1000]
