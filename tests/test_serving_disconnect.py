"""Clients that give up: their images are not inferred, and each departure is one info line and a 499."""

import concurrent.futures
import logging
import time

import httpx
from serving_fixtures import encode, make_tiny_model, metric_value, running_server, split_image

from personseg.runtime import load_predictor
from personseg.serving.settings import ServeSettings

CLIENTS = 12


class SlowPredictor:
    """The real predictor taking 0.3 s per batch, so requests queue behind one another."""

    def __init__(self, inner):
        self.inner = inner
        self.info = inner.info
        self.threads = inner.threads
        self.batches = 0

    def logits(self, batch):
        self.batches += 1
        time.sleep(0.3)
        return self.inner.logits(batch)


def _give_up(url: str, body: bytes) -> str:
    try:
        httpx.post(f"{url}/v1/segment", content=body, timeout=httpx.Timeout(0.5, connect=5))
    except httpx.ReadTimeout:
        return "gave up"
    return "answered"


def test_clients_that_give_up_are_not_inferred_and_count_as_499(tmp_path, caplog):
    caplog.set_level(logging.INFO)
    predictors = []

    def loader(path, threads):
        predictors.append(SlowPredictor(load_predictor(path, threads)))
        return predictors[-1]

    settings = ServeSettings(model_uri=str(make_tiny_model(tmp_path / "tiny")), threads=1, max_batch=1,
                             batch_wait_ms=0, max_queue=64)
    with running_server(settings, loader=loader) as server, httpx.Client(base_url=server.url, timeout=10) as client:
        warm = predictors[-1].batches
        body = encode(split_image())
        with concurrent.futures.ThreadPoolExecutor(CLIENTS) as pool:
            outcomes = list(pool.map(lambda _: _give_up(server.url, body), range(CLIENTS)))
        assert outcomes.count("gave up") >= CLIENTS - 2, outcomes
        deadline = time.monotonic() + 20
        while True:  # every request has finished on the server's side
            text = client.get("/metrics").text
            done = sum(metric_value(text, "personseg_requests_total", {"route": "/v1/segment", "status": s})
                       for s in ("200", "499", "500"))
            if done == CLIENTS:
                break
            assert time.monotonic() < deadline, f"{done} of {CLIENTS} requests finished"
            time.sleep(0.1)
        inferred = predictors[-1].batches - warm
        closed = metric_value(text, "personseg_requests_total", {"route": "/v1/segment", "status": "499"})
        assert inferred < CLIENTS / 2, f"{inferred} of {CLIENTS} abandoned images were still inferred"
        assert metric_value(text, "personseg_images_total") == inferred
        assert metric_value(text, "personseg_requests_total", {"route": "/v1/segment", "status": "500"}) == 0
        assert closed >= outcomes.count("gave up") - 2
        assert metric_value(text, "personseg_request_errors_total",
                            {"route": "/v1/segment", "reason": "client_closed"}) == closed
        assert client.post("/v1/segment", content=body).status_code == 200, "the server keeps serving"
    lines = [r for r in caplog.records if "the client closed the connection" in r.getMessage()]
    assert len(lines) == closed and all(r.levelno == logging.INFO for r in lines)
    assert not any(r.exc_info for r in caplog.records) and "Traceback" not in caplog.text


def test_a_client_leaving_mid_body_is_a_499_without_a_traceback(tmp_path, caplog):
    import socket

    caplog.set_level(logging.INFO)
    settings = ServeSettings(model_uri=str(make_tiny_model(tmp_path / "tiny")), threads=1)
    with running_server(settings) as server, httpx.Client(base_url=server.url, timeout=10) as client:
        port = int(server.url.rsplit(":", 1)[1])
        for _ in range(3):
            with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
                sock.sendall(b"POST /v1/segment HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n" + bytes(1000))
                time.sleep(0.2)
        deadline = time.monotonic() + 10
        while metric_value(text := client.get("/metrics").text, "personseg_requests_total",
                           {"route": "/v1/segment", "status": "499"}) < 3:
            assert time.monotonic() < deadline, "the departures were not counted as 499"
            time.sleep(0.05)
        assert metric_value(text, "personseg_requests_total", {"route": "/v1/segment", "status": "500"}) == 0
        assert metric_value(text, "personseg_request_errors_total", {"reason": "internal"}) == 0
    lines = [r.getMessage() for r in caplog.records if "the client closed the connection" in r.getMessage()]
    assert len(lines) == 3 and all("while sending its body" in line for line in lines)
    assert not any(r.exc_info for r in caplog.records) and "Traceback" not in caplog.text
