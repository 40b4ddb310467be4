"""A STAND-IN for the KFP v2beta1 REST API on 127.0.0.1, for the submit/schedule/upload tests.

It implements what ``kfp.Client`` calls here: healthz (with a configurable ``tag_name``),
experiments, runs, recurring runs, pipelines and pipeline versions (list with filter and pages,
get, create, delete; multipart upload and upload_version). It keeps what it is sent, so tests can
check the request bodies a real API server would receive, and it can be told to refuse everything
(``state.refuse``) or one call (``state.fail``) the way a proxy or the server would.

What the real API server (kubeflow/pipelines backend/src/apiserver, read at 2.5.0 and 2.14.4) does
that this stand-in does NOT, so a passing test here says nothing about it:
- validation: the real server compiles the spec into an Argo Workflow, checks pipelineInfo.name
  against MLMD rules and parameter types against the spec; its driver silently ignores
  platform-spec fields it does not know. Here any JSON is accepted.
- versions and Secrets: ``tag_name`` is what healthz reports, and each run is played by the driver
  stand-in (tests/kfp_driver.py) as that release resolves artifact selectors (``state.plays``);
  nothing else differs by version. A backend older than 2.5.0 accepts the package and the run fails
  at its first S3 step (personseg_kfp/backend.py), which is why the check is on the healthz version.
- re-serialization: the real server stores the spec re-marshalled by protojson (``32.0`` comes
  back as ``32``, proto defaults dropped, keys reordered). The stand-in imitates only the
  number part (``_as_stored``) - enough that code hashing a spec read back from the server cannot
  pass the idempotency tests, as it could not on a real server.
- auth and namespaces: no token is checked (``state.refuse`` only imitates a 401/403 in front of
  the API, as Istio/oauth2-proxy answer, or the 200 login page a browser-oriented gateway
  redirects to); the API server's own healthz needs no auth; no SubjectAccessReview, multi-user
  namespaces are stored but never enforced, shared vs namespaced pipelines are not distinguished.
- scheduling and execution: recurring runs never fire; runs stay PENDING as far as the API says
  (``state.plays`` holds what the driver would do: kfp_driver's docstring lists what it copies);
  no caching, no retries, no Argo, no MLMD, no artifacts, no catch-up semantics.
- limits and order: no maximum page size (``state.page_cap`` imitates one), list order is
  insertion order, no sort_by, filters support only ``display_name`` EQUALS.
- identifiers: ids are random uuids, timestamps are absent; the real server sets created_at.
"""

from __future__ import annotations

import email.parser
import email.policy
import json
import threading
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
import yaml
from kfp_driver import Played, play
from pipeline_fixtures import ROOT  # noqa: F401 (puts pipelines/ on sys.path)

API = "/apis/v2beta1"


class StubKfp:
    """In-memory state of the stand-in, how it should answer, and the requests it saw."""

    API = API

    def __init__(self) -> None:
        # a real release (kubeflow/pipelines tag 2.5.0), the oldest this project supports; None: healthz omits it
        self.tag_name: str | None = "2.5.0"
        self.refuse: tuple[int, str] | None = None  # (status, text body) for every request
        self.fail: dict[str, tuple[int, dict]] = {}  # "METHOD /path" -> (status, JSON body)
        self.page_cap = 100
        self.experiments: list[dict] = []
        self.runs: list[dict] = []
        self.recurring: list[dict] = []
        self.pipelines: list[dict] = []
        self.versions: list[dict] = []
        self.requests: list[tuple[str, str, dict | None, str | None]] = []
        self.plays: dict[str, Played] = {}  # run id -> what the driver stand-in did with it
        self.task_outputs: dict[str, dict] = {}  # task name -> output parameters the played tasks give

    def play(self, run: dict) -> Played:
        """Play ``run`` as the reported backend's driver would (tests/kfp_driver.py)."""
        spec = run.get("pipeline_spec")
        if spec is None:
            wanted = run["pipeline_version_reference"]["pipeline_version_id"]
            spec = next(v["pipeline_spec"] for v in self.versions if v["pipeline_version_id"] == wanted)
        params = run.get("runtime_config", {}).get("parameters", {})
        return play(spec, params, self.tag_name, self.task_outputs)

    def count(self, method: str, suffix: str) -> int:
        """How many requests of ``method`` went to a path ending in ``suffix``."""
        return sum(1 for m, p, *_ in self.requests if m == method and p.endswith(suffix))


def _as_stored(value: object) -> object:
    """What protojson gives back for a stored spec: whole-number floats come back as integers."""
    if isinstance(value, dict):
        return {k: _as_stored(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_as_stored(v) for v in value]
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def _named(items: list[dict], query: dict) -> list[dict]:
    """The ``display_name`` EQUALS filter (operation by name or enum number, as protojson accepts both)."""
    if "filter" not in query:
        return items
    (pred,) = json.loads(query["filter"])["predicates"]
    if pred["key"] != "display_name" or pred["operation"] not in ("EQUALS", 1):
        raise ValueError(f"stand-in: unsupported filter {pred}")
    return [i for i in items if i["display_name"] == pred["stringValue"]]


def _page(state: StubKfp, items: list[dict], query: dict, key: str) -> dict:
    start = int(query.get("page_token") or 0)
    size = min(int(query.get("page_size") or 20), state.page_cap)
    rest = start + size < len(items)
    token = str(start + size) if rest else ""
    return {key: items[start:start + size], "total_size": len(items), "next_page_token": token}


def _upload(rfile_body: bytes, ctype: str) -> tuple[str, bytes]:
    msg = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
        b"Content-Type: " + ctype.encode() + b"\r\n\r\n" + rfile_body)
    for part in msg.iter_parts():
        if part.get_param("name", header="content-disposition") == "uploadfile":
            return part.get_filename() or "", part.get_payload(decode=True)
    raise ValueError("no uploadfile part")


def _spec_of(data: bytes) -> object:
    docs = [d for d in yaml.safe_load_all(data) if d]
    spec = {"pipeline_spec": docs[0], "platform_spec": docs[1]} if len(docs) > 1 else docs[0]
    return _as_stored(spec)


def _handler(state: StubKfp) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

        def _send(self, body: dict, status: int = 200) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _error(self, status: int, message: str) -> None:
            self._send({"error": message, "code": status, "message": message, "details": []}, status)

        def _refused(self, path: str) -> bool:
            if state.refuse:
                status, text = state.refuse
                data = text.encode()
                self.send_response(status)
                self.send_header("Content-Type", "text/plain")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
                return True
            if f"{self.command} {path}" in state.fail:
                status, body = state.fail[f"{self.command} {path}"]
                self._send(body, status)
                return True
            return False

        def _begin(self, body: dict | None) -> tuple[str, dict] | None:
            parts = urlsplit(self.path)
            state.requests.append((self.command, parts.path, body, self.headers.get("Authorization")))
            if self._refused(parts.path):
                return None
            return parts.path, {k: v[0] for k, v in parse_qs(parts.query).items()}

        def do_GET(self) -> None:  # noqa: N802
            try:
                self._get()
            except ValueError as exc:
                self._error(400, str(exc))

        def _get(self) -> None:
            got = self._begin(None)
            if got is None:
                return
            path, query = got
            segs = path[len(API):].strip("/").split("/") if path.startswith(API) else []
            if segs == ["healthz"]:
                body = {"commit_sha": "stand-in", "multi_user": False}
                if state.tag_name is not None:
                    body["tag_name"] = state.tag_name
                self._send(body)
            elif segs == ["experiments"]:
                self._send({"experiments": _named(state.experiments, query)})
            elif segs == ["recurringruns"]:
                found = [r for r in _named(state.recurring, query) if r["experiment_id"] == query.get("experiment_id")]
                self._send(_page(state, found, query, "recurringRuns"))  # the proto field is recurringRuns
            elif len(segs) == 2 and segs[0] == "recurringruns":
                self._one([r for r in state.recurring if r["recurring_run_id"] == segs[1]], "recurring run")
            elif segs == ["pipelines"]:
                self._send(_page(state, _named(state.pipelines, query), query, "pipelines"))
            elif len(segs) == 2 and segs[0] == "pipelines":
                self._one([p for p in state.pipelines if p["pipeline_id"] == segs[1]], "pipeline")
            elif len(segs) == 3 and segs[0] == "pipelines" and segs[2] == "versions":
                mine = [v for v in state.versions if v["pipeline_id"] == segs[1]]
                self._send(_page(state, _named(mine, query), query, "pipeline_versions"))
            elif len(segs) == 4 and segs[0] == "pipelines" and segs[2] == "versions":
                self._one([v for v in state.versions if v["pipeline_version_id"] == segs[3]], "pipeline version")
            else:
                self._error(404, f"stand-in: no GET {path}")

        def _one(self, found: list[dict], what: str) -> None:
            if found:
                self._send(found[0])
            else:
                self._error(404, f"{what} not found")

        def do_POST(self) -> None:  # noqa: N802
            raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            ctype = self.headers.get("Content-Type", "")
            body = None if ctype.startswith("multipart/") else json.loads(raw or b"{}")
            got = self._begin(body)
            if got is None:
                return
            path, query = got
            if path in (f"{API}/pipelines/upload", f"{API}/pipelines/upload_version"):
                self._upload(path, query, raw, ctype)
            elif path == f"{API}/experiments":
                exp = {**body, "experiment_id": f"exp-{len(state.experiments) + 1}"}
                state.experiments.append(exp)
                self._send(exp)
            elif path == f"{API}/runs":
                run = {**body, "run_id": str(uuid.uuid4()), "state": "PENDING"}
                state.runs.append(run)
                state.plays[run["run_id"]] = state.play(run)
                self._send(run)
            elif path == f"{API}/recurringruns":
                rec = {**body, "recurring_run_id": str(uuid.uuid4()), "status": "ENABLED"}
                if "pipeline_spec" in rec:
                    rec["pipeline_spec"] = _as_stored(rec["pipeline_spec"])
                state.recurring.append(rec)
                self._send(rec)
            elif path == f"{API}/pipelines":
                if any(p["display_name"] == body["display_name"] for p in state.pipelines):
                    return self._error(409, f"pipeline {body['display_name']} already exists")
                pipe = {**body, "pipeline_id": str(uuid.uuid4())}
                state.pipelines.append(pipe)
                self._send(pipe)
            else:
                self._error(404, f"stand-in: no POST {path}")

        def _upload(self, path: str, query: dict, raw: bytes, ctype: str) -> None:
            filename, data = _upload(raw, ctype)
            if not filename.endswith((".yaml", ".yml", ".json", ".tar.gz", ".tgz", ".zip")):
                return self._error(400, f"unexpected pipeline file format {filename}")
            if path.endswith("/upload"):
                name = query.get("display_name") or query.get("name") or filename
                if any(p["display_name"] == name for p in state.pipelines):
                    return self._error(409, "Failed to create a pipeline and a pipeline version. "
                                            "The pipeline already exists.")
                pipe = {"pipeline_id": str(uuid.uuid4()), "display_name": name,
                        "description": query.get("description", ""), "namespace": query.get("namespace", "")}
                state.pipelines.append(pipe)
                version_name, pipeline_id, result = name, pipe["pipeline_id"], pipe  # the real server does the same
            else:
                pipeline_id = query.get("pipelineid", "")
                if not any(p["pipeline_id"] == pipeline_id for p in state.pipelines):
                    return self._error(400, f"pipeline {pipeline_id!r} not found")
                version_name = query.get("display_name") or query.get("name") or filename
                result = None
            if any(v["pipeline_id"] == pipeline_id and v["display_name"] == version_name for v in state.versions):
                return self._error(409, "Failed to create a pipeline version. The pipeline already exists.")
            version = {"pipeline_id": pipeline_id, "pipeline_version_id": str(uuid.uuid4()),
                       "display_name": version_name, "description": query.get("description", ""),
                       "pipeline_spec": _spec_of(data)}
            state.versions.append(version)
            self._send(result or version)

        def do_DELETE(self) -> None:  # noqa: N802
            got = self._begin(None)
            if got is None:
                return
            path, _ = got
            segs = path[len(API):].strip("/").split("/")
            if len(segs) == 2 and segs[0] == "recurringruns":
                self._delete(state.recurring, "recurring_run_id", segs[1])
            elif len(segs) == 4 and segs[0] == "pipelines" and segs[2] == "versions":
                self._delete(state.versions, "pipeline_version_id", segs[3])
            elif len(segs) == 2 and segs[0] == "pipelines":
                if any(v["pipeline_id"] == segs[1] for v in state.versions):
                    return self._error(400, f"Failed to delete pipeline with id {segs[1]} as it has existing "
                                            "pipeline versions")
                self._delete(state.pipelines, "pipeline_id", segs[1])
            else:
                self._error(404, f"stand-in: no DELETE {path}")

        def _delete(self, items: list[dict], key: str, value: str) -> None:
            before = len(items)
            items[:] = [i for i in items if i[key] != value]
            if len(items) < before:
                self._send({})
            else:
                self._error(404, f"{value} not found")

    return Handler


@pytest.fixture
def stub(monkeypatch: pytest.MonkeyPatch, tmp_path) -> Iterator[tuple[str, StubKfp]]:
    """The stand-in on a free port, a bearer token in $KFP_TOKEN, and a private HOME for kfp's context file."""
    monkeypatch.setenv("HOME", str(tmp_path))  # kfp.Client reads ~/.config/kfp/context.json
    monkeypatch.setenv("KFP_TOKEN", "test-token")
    state = StubKfp()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(state))
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", state
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture(scope="session")
def packages(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Compiled packages: ``a`` (default), ``b`` (recompiled with other Secret keys: a changed spec),
    ``a_same`` (``a`` as another kfp would write it: other sdkVersion, a comment; the same spec)."""
    from personseg_kfp.pipeline import compile_pipeline

    out = tmp_path_factory.mktemp("packages")
    a = compile_pipeline(out / "a.yaml")
    b = compile_pipeline(out / "b.yaml", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")
    same = out / "a_same.yaml"
    text = a.read_text()
    assert "\nsdkVersion: kfp-" in text
    same.write_text("# written by another kfp\n" + text.replace("\nsdkVersion: kfp-", "\nsdkVersion: kfp-0.0.1-not-"))
    return {"a": a, "b": b, "a_same": same}
