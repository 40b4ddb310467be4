"""Readiness before and after loading, a failed load stopping the server, graceful shutdown."""

import concurrent.futures
import threading
import time
from pathlib import Path

import httpx
import pytest
from serving_fixtures import (
    decode_png,
    encode,
    make_tiny_model,
    metric_value,
    running_server,
    split_image,
    start_server,
)

from personseg.runtime import load_predictor
from personseg.serving.settings import ServeSettings


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    return make_tiny_model(tmp_path_factory.mktemp("lifecycle") / "tiny")


def test_not_ready_until_loaded_and_warmed_up(model):
    gate = threading.Event()

    def slow_loader(path, threads):
        assert gate.wait(20), "test never released the loader"
        return load_predictor(path, threads)

    server = start_server(ServeSettings(model_uri=str(model), threads=1), ready=False, loader=slow_loader)
    try:
        with httpx.Client(base_url=server.url, timeout=10) as client:
            assert client.get("/v2/health/live").status_code == 200
            r = client.get("/v2/health/ready")
            assert r.status_code == 503 and r.json()["ready"] is False
            assert client.get("/v2/models/personseg/ready").status_code == 503
            r = client.get("/v2/models/personseg")
            assert r.status_code == 503 and "not ready" in r.json()["error"]
            r = client.post("/v1/segment", content=encode(split_image()))
            assert r.status_code == 503 and "not ready" in r.json()["error"]
            assert metric_value(client.get("/metrics").text, "personseg_ready") == 0.0
            gate.set()
            deadline = time.monotonic() + 20
            while client.get("/v2/health/ready").status_code != 200:
                assert time.monotonic() < deadline, "never became ready"
                time.sleep(0.02)
            assert client.get("/v2/models/personseg/ready").json() == {"name": "personseg", "ready": True}
            assert client.post("/v1/segment", content=encode(split_image())).status_code == 200
            assert metric_value(client.get("/metrics").text, "personseg_ready") == 1.0
    finally:
        gate.set()
        server.stop()


def test_a_model_that_cannot_load_stops_the_server_with_the_reason(tmp_path, model):
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "config.json").write_bytes((model / "config.json").read_bytes())
    (broken / "model.onnx").write_bytes(b"these bytes are not an ONNX graph")
    server = start_server(ServeSettings(model_uri=str(broken), threads=1), ready=False)
    server.thread.join(20)
    assert not server.thread.is_alive(), "server kept running without a model"
    assert "model.onnx" in server.service.load_error and "ONNX Runtime cannot load it" in server.service.load_error


class SlowPredictor:
    """The real predictor, slowed down once ``slow`` is set, so requests are provably in flight."""

    def __init__(self, inner):
        self.inner = inner
        self.info = inner.info
        self.threads = inner.threads
        self.slow = threading.Event()
        self.running = threading.Event()

    def logits(self, batch):
        if self.slow.is_set():
            self.running.set()
            time.sleep(0.5)
        return self.inner.logits(batch)


def test_shutdown_finishes_in_flight_requests_then_refuses_new_ones(model):
    predictors = []

    def loader(path, threads):
        predictors.append(SlowPredictor(load_predictor(path, threads)))
        return predictors[0]

    settings = ServeSettings(model_uri=str(model), threads=1, max_batch=2, batch_wait_ms=0)
    server = start_server(settings, loader=loader)
    predictors[0].slow.set()
    body = encode(split_image())

    def segment(_):
        with httpx.Client(base_url=server.url, timeout=20) as client:
            return client.post("/v1/segment", content=body)

    try:
        with concurrent.futures.ThreadPoolExecutor(6) as pool:
            futures = [pool.submit(segment, i) for i in range(6)]  # three batches of two, 0.5 s each
            assert predictors[0].running.wait(10)
            deadline = time.monotonic() + 10
            while server.service.batcher.pending() < 4:  # all six received: two running, four queued
                assert time.monotonic() < deadline, "requests never queued"
                time.sleep(0.01)
            started = time.monotonic()
            server.server.should_exit = True
            responses = [f.result(timeout=20) for f in futures]
        server.thread.join(20)
        assert not server.thread.is_alive()
        assert time.monotonic() - started >= 0.9  # shutdown waited for the two queued batches
        assert [r.status_code for r in responses] == [200] * 6
        assert all(decode_png(r.content).size == (100, 60) for r in responses)
        with pytest.raises(httpx.TransportError):
            httpx.get(f"{server.url}/v2/health/live", timeout=2)
    finally:
        if server.thread.is_alive():
            server.stop()


class FlakyPredictor(SlowPredictor):
    """Fails every call while ``broken`` is set."""

    def __init__(self, inner):
        super().__init__(inner)
        self.broken = threading.Event()

    def logits(self, batch):
        if self.broken.is_set():
            raise RuntimeError("simulated runtime fault")
        return self.inner.logits(batch)


def test_a_failing_inference_is_a_500_json_error_and_the_server_recovers(model):
    predictors = []

    def loader(path, threads):
        predictors.append(FlakyPredictor(load_predictor(path, threads)))
        return predictors[0]

    server = start_server(ServeSettings(model_uri=str(model), threads=1), loader=loader)
    try:
        with httpx.Client(base_url=server.url, timeout=10) as client:
            predictors[0].broken.set()
            r = client.post("/v1/segment", content=encode(split_image()))
            assert r.status_code == 500
            assert r.json() == {"error": "inference failed: RuntimeError: simulated runtime fault"}
            predictors[0].broken.clear()
            assert client.post("/v1/segment", content=encode(split_image())).status_code == 200
            text = client.get("/metrics").text
            assert metric_value(text, "personseg_request_errors_total",
                                {"route": "/v1/segment", "reason": "inference"}) == 1.0
            assert metric_value(text, "personseg_requests_total",
                                {"route": "/v1/segment", "method": "POST", "status": "500"}) == 1.0
    finally:
        server.stop()


def test_the_servers_threads_are_named_for_the_operating_system(tmp_path):
    """``top -H`` and ``personseg bench serve`` (``personseg.bench.thread_cpu``) tell the pool and inference apart."""
    if not Path("/proc/self/task").is_dir():
        pytest.skip("no /proc")
    settings = ServeSettings(model_uri=str(make_tiny_model(tmp_path / "tiny")), threads=1)
    with running_server(settings) as server:
        assert httpx.post(f"{server.url}/v1/segment", content=encode(split_image()), timeout=10).status_code == 200
        names = {(task / "comm").read_text().strip() for task in Path("/proc/self/task").iterdir()}
    assert {"personseg-io", "personseg-infer"} <= names, names
