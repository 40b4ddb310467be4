"""``personseg pipeline submit|schedule`` against a STUB of the KFP v2beta1 REST API on 127.0.0.1.

The stub is not a cluster: it implements only the endpoints ``kfp.Client`` calls here (healthz,
experiments, runs, recurring runs), keeps what it is sent, and lets the tests check the request
bodies the real API server would receive.
"""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import pytest
from pipeline_fixtures import ROOT  # noqa: F401 (puts pipelines/ on sys.path)

from personseg.cli import main

API = "/apis/v2beta1"


class StubKfp:
    """In-memory state of the stub and the requests it saw."""

    def __init__(self) -> None:
        self.experiments: list[dict] = []
        self.runs: list[dict] = []
        self.recurring: list[dict] = []
        self.requests: list[tuple[str, str, dict | None, str | None]] = []


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

        def _record(self, body: dict | None) -> tuple[str, dict]:
            parts = urlsplit(self.path)
            state.requests.append((self.command, parts.path, body, self.headers.get("Authorization")))
            return parts.path, {k: v[0] for k, v in parse_qs(parts.query).items()}

        @staticmethod
        def _named(items: list[dict], query: dict) -> list[dict]:
            if "filter" not in query:
                return items
            (pred,) = json.loads(query["filter"])["predicates"]
            return [i for i in items if i["display_name"] == pred["stringValue"]]

        def do_GET(self) -> None:  # noqa: N802
            path, query = self._record(None)
            if path == f"{API}/healthz":
                self._send({"multi_user": False})
            elif path == f"{API}/experiments":
                self._send({"experiments": self._named(state.experiments, query)})
            elif path == f"{API}/recurringruns":
                found = [r for r in self._named(state.recurring, query)
                         if r["experiment_id"] == query.get("experiment_id")]
                self._send({"recurringRuns": found, "total_size": len(found), "next_page_token": ""})  # the API's key
            else:
                self._send({"error": f"stub: no GET {path}"}, 404)

        def do_POST(self) -> None:  # noqa: N802
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            path, _ = self._record(body)
            if path == f"{API}/experiments":
                exp = {**body, "experiment_id": f"exp-{len(state.experiments) + 1}"}
                state.experiments.append(exp)
                self._send(exp)
            elif path == f"{API}/runs":
                run = {**body, "run_id": str(uuid.uuid4()), "state": "PENDING"}
                state.runs.append(run)
                self._send(run)
            elif path == f"{API}/recurringruns":
                rec = {**body, "recurring_run_id": str(uuid.uuid4()), "status": "ENABLED"}
                state.recurring.append(rec)
                self._send(rec)
            else:
                self._send({"error": f"stub: no POST {path}"}, 404)

        def do_DELETE(self) -> None:  # noqa: N802
            path, _ = self._record(None)
            rid = path.rsplit("/", 1)[-1]
            before = len(state.recurring)
            state.recurring[:] = [r for r in state.recurring if r["recurring_run_id"] != rid]
            self._send({}, 200 if len(state.recurring) < before else 404)

    return Handler


@pytest.fixture
def stub(monkeypatch: pytest.MonkeyPatch, tmp_path) -> Iterator[tuple[str, StubKfp]]:
    monkeypatch.setenv("HOME", str(tmp_path))  # kfp.Client reads ~/.config/kfp/context.json
    monkeypatch.setenv("KFP_TOKEN", "test-token")
    state = StubKfp()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(state))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", state
    finally:
        server.shutdown()
        server.server_close()


def test_submit_sends_the_compiled_spec_and_typed_params(stub: tuple[str, StubKfp], capsys) -> None:
    host, state = stub
    assert main(["pipeline", "submit", "--host", host, "--param", "epochs=3", "--param", "min_speedup=2.5",
                 "--run-name", "nightly-1", "--experiment", "seg"]) == 0
    assert "submitted run " + state.runs[0]["run_id"] in capsys.readouterr().out
    assert [e["display_name"] for e in state.experiments] == ["seg"]
    (run,) = state.runs
    assert run["display_name"] == "nightly-1" and run["experiment_id"] == "exp-1"
    assert run["pipeline_spec"]["pipeline_spec"]["pipelineInfo"]["name"] == "person-segmentation"
    platform = run["pipeline_spec"]["platform_spec"]["platforms"]["kubernetes"]["deploymentSpec"]["executors"]
    assert platform["exec-deploy"]["secretAsEnv"][0]["keyToEnv"][0]["envVar"] == "MINIO_ACCESS_KEY"
    assert run["runtime_config"]["parameters"] == {"epochs": 3, "min_speedup": 2.5}
    assert {auth for *_, auth in state.requests} == {"Bearer test-token"}
    assert main(["pipeline", "submit", "--host", host, "--run-name", "again", "--experiment", "seg"]) == 0
    assert len(state.experiments) == 1 and len(state.runs) == 2  # the experiment is reused


def test_schedule_is_idempotent_by_name(stub: tuple[str, StubKfp], capsys) -> None:
    host, state = stub
    base = ["pipeline", "schedule", "--host", host, "--name", "retrain", "--param", "epochs=5"]
    assert main([*base, "--cron", "0 3 * * *"]) == 0
    assert "retrain: created" in capsys.readouterr().out
    (rec,) = state.recurring
    assert rec["display_name"] == "retrain" and rec["trigger"]["cron_schedule"]["cron"] == "0 0 3 * * *"
    assert rec["mode"] == "ENABLE" and rec["no_catchup"] is True and int(rec["max_concurrency"]) == 1
    assert rec["runtime_config"]["parameters"] == {"epochs": 5}
    assert rec["pipeline_spec"]["pipeline_spec"]["pipelineInfo"]["name"] == "person-segmentation"

    assert main([*base, "--cron", "0 3 * * *"]) == 0
    assert "retrain: unchanged" in capsys.readouterr().out
    assert [r["recurring_run_id"] for r in state.recurring] == [rec["recurring_run_id"]]
    assert sum(1 for m, p, *_ in state.requests if m == "POST" and p.endswith("/recurringruns")) == 1

    assert main([*base, "--cron", "30 4 * * 1"]) == 0
    assert "retrain: replaced" in capsys.readouterr().out
    assert ("DELETE", f"{API}/recurringruns/{rec['recurring_run_id']}") in [(m, p) for m, p, *_ in state.requests]
    (new,) = state.recurring
    assert new["trigger"]["cron_schedule"]["cron"] == "0 30 4 * * 1"


def test_bad_cron_and_missing_package_are_user_errors(stub: tuple[str, StubKfp], tmp_path, capsys) -> None:
    host, state = stub
    assert main(["pipeline", "schedule", "--host", host, "--cron", "every day"]) == 2
    assert "--cron 'every day'" in capsys.readouterr().err
    assert main(["pipeline", "submit", "--host", host, "--package", str(tmp_path / "nope.yaml")]) == 2
    assert "nope.yaml: no such file" in capsys.readouterr().err
    assert state.runs == [] and state.recurring == []
