"""docs/serving.md documents every route the server answers, and each route's parameters, answers and errors.

The routes come from the app as built (its router: API routes, plain routes and mounted folders), not
from the source, wherever the routes are defined; the parameters, statuses and answer fields come from
the app's own OpenAPI description. The error table is checked against the reasons the server counts.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from fastapi import FastAPI
from starlette.routing import Mount, Route

from personseg.serving.app import create_app
from personseg.serving.settings import ENV_FIELDS, ServeSettings

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "serving.md"
SERVING = ROOT / "personseg" / "serving"
HEADING = re.compile(r"^### `(GET|POST|PUT|PATCH|DELETE) (/[^`]*)`$", re.M)


@pytest.fixture(scope="module")
def app() -> FastAPI:
    # The model loads when the app starts up, which never happens here: building it reads nothing.
    return create_app(ServeSettings(model_uri="unused"))


def served(app: FastAPI) -> set[tuple[str, str]]:
    """(method, path) of everything the app answers, HEAD aside; a mounted folder as ``{path}`` below it."""
    routes: set[tuple[str, str]] = set()
    for route in app.routes:
        if isinstance(route, Mount):
            routes.add(("GET", f"{route.path}/{{path}}"))
        elif isinstance(route, Route):  # FastAPI's APIRoute included
            routes |= {(method, route.path) for method in route.methods - {"HEAD"}}
        else:
            raise AssertionError(f"a route of a kind this test does not know: {route!r}")
    return routes


def sections() -> dict[tuple[str, str], str]:
    """Each ``### `METHOD /path``` section of docs/serving.md, up to the next heading."""
    text = DOC.read_text()
    out = {}
    for match in HEADING.finditer(text):
        rest = text[match.end():]
        following = re.search(r"^#{1,6} ", rest, re.M)
        out[(match.group(1), match.group(2))] = rest[:following.start()] if following else rest
    return out


def test_serving_md_documents_every_route_and_no_other(app):
    documented = sections()
    assert len(documented) == len(HEADING.findall(DOC.read_text())), "a route documented twice"
    routes, written = served(app), set(documented)
    assert not routes - written, f"routes the server answers but docs/serving.md omits: {routes - written}"
    assert not written - routes, f"routes docs/serving.md documents but the server lacks: {written - routes}"
    for route, section in documented.items():  # each section shows a curl and a Python call
        assert "curl " in section and "httpx." in section, route


def _schema_fields(spec: dict, response: dict) -> list[str]:
    ref = response.get("content", {}).get("application/json", {}).get("schema", {}).get("$ref", "")
    name = ref.rsplit("/", 1)[-1]
    if not ref or name == "ErrorBody":  # {"error": ...}, documented once for every route
        return []
    return list(spec["components"]["schemas"][name]["properties"])


def test_each_route_section_names_its_parameters_statuses_and_answer_fields(app):
    spec, documented = app.openapi(), sections()
    for path, operations in spec["paths"].items():
        for method, operation in operations.items():
            section = documented[(method.upper(), path)]
            for parameter in operation.get("parameters", []):
                assert f"`{parameter['name']}`" in section, (method, path, parameter["name"])
                for value in parameter["schema"].get("enum", []):
                    assert f"`{value}`" in section, (method, path, parameter["name"], value)
            for status, response in operation["responses"].items():
                assert status in section, f"{method.upper()} {path}: status {status} not documented"
                for field in _schema_fields(spec, response):
                    assert f'"{field}"' in section or f"`{field}`" in section, (method, path, status, field)


def _reasons_in_code() -> set[str]:
    """Error reasons named literally in the server's code (``kind="..."`` and the labels the app adds)."""
    text = "\n".join(p.read_text() for p in SERVING.rglob("*.py"))
    reasons = set(re.findall(r'\bkind="(\w+)"', text))
    # the error handlers' own (inference, internal) and the guard's client_closed: a call to an error
    # function or the errors counter whose last argument is a literal reason
    reasons |= set(re.findall(r'(?:\w*error\w*|errors\.labels)\(.*, "(\w+)"\)', text))
    return reasons


def test_every_error_reason_the_server_counts_is_in_the_table():
    table = DOC.read_text().split("\n## Errors\n", 1)[1].split("\n## ", 1)[0]
    listed = set(re.findall(r"^\| \d{3} \| `(\w+)` \|", table, re.M))
    reasons = _reasons_in_code()
    assert {"bad_tensor", "busy", "not_ready", "inference", "internal", "client_closed"} <= reasons, reasons
    assert reasons <= listed, f"reasons the server counts but the Errors table omits: {reasons - listed}"


def test_every_setting_the_server_reads_is_in_the_settings_table():
    table = DOC.read_text().split("\n## Settings\n", 1)[1].split("\n## ", 1)[0]
    listed = set(re.findall(r"^\| `(\w+)` \|", table, re.M))
    assert {variable for _, variable, _ in ENV_FIELDS} == listed


def test_every_metric_the_server_exports_is_named_in_the_metrics_section(app):
    section = sections()[("GET", "/metrics")]
    families = {family.name for family in app.state.service.metrics.registry.collect()}
    assert {"personseg_requests", "personseg_ready"} <= families, families
    missing = sorted(name for name in families if f"`{name}" not in section)
    assert missing == [], f"metrics /metrics exports but docs/serving.md omits: {missing}"
