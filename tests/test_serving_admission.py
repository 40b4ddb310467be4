"""Back-pressure counts a request from arrival to answer (decode included) and the memory it may hold."""

import concurrent.futures
import time

import httpx
import numpy as np
import pytest
from PIL import Image
from serving_fixtures import encode, make_tiny_model, metric_value, running_server, split_image, start_server

from personseg.memlimit import process_rss
from personseg.runtime import load_predictor
from personseg.serving.admission import BYTES_PER_PIXEL, HEADROOM, MIB
from personseg.serving.settings import ServeSettings


class SlowPredictor:
    """The real predictor taking 1 s per batch: admitted requests stay in flight that long."""

    def __init__(self, inner):
        self.inner, self.info, self.threads = inner, inner.info, inner.threads

    def logits(self, batch):
        if batch.shape[0] == 1 and batch[0, 0, 0, 0] != 0.5:  # not the grey warm-up
            time.sleep(1.0)
        return self.inner.logits(batch)


def slow_loader(path, threads):
    return SlowPredictor(load_predictor(path, threads))


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    return make_tiny_model(tmp_path_factory.mktemp("admission") / "tiny")


def _post_all(url: str, bodies: list[bytes]) -> list[httpx.Response]:
    def post(body):
        return httpx.post(f"{url}/v1/segment", content=body, timeout=30)

    with concurrent.futures.ThreadPoolExecutor(len(bodies)) as pool:
        return list(pool.map(post, bodies))


def _settled(client: httpx.Client) -> str:
    """/metrics once nothing is in flight any more."""
    deadline = time.monotonic() + 10
    while metric_value(text := client.get("/metrics").text, "personseg_images_in_flight") != 0:
        assert time.monotonic() < deadline, "requests still counted in flight"
        time.sleep(0.05)
    return text


def test_requests_beyond_max_queue_get_503_while_earlier_ones_decode_or_wait(model):
    """Twelve at once with room for two: ten are refused at once, decoding included in the count."""
    settings = ServeSettings(model_uri=str(model), threads=1, max_batch=1, batch_wait_ms=0, max_queue=2)
    with running_server(settings, loader=slow_loader) as server, httpx.Client(base_url=server.url) as client:
        responses = _post_all(server.url, [encode(split_image())] * 12)
        statuses = sorted(r.status_code for r in responses)
        assert statuses == [200] * 2 + [503] * 10, statuses
        busy = [r for r in responses if r.status_code == 503]
        assert all(r.headers["retry-after"] == "1" and "PERSONSEG_MAX_QUEUE=2" in r.json()["error"] for r in busy)
        text = _settled(client)
        assert metric_value(text, "personseg_request_errors_total", {"route": "/v1/segment", "reason": "busy"}) == 10
        assert metric_value(text, "personseg_reserved_bytes") == 0


def _picture(pixels: int) -> bytes:
    side = int(pixels**0.5)
    return encode(Image.fromarray(np.tile(np.linspace(0, 255, side, dtype=np.uint8), (side, 1))).convert("RGB"))


def test_the_memory_budget_admits_one_large_image_at_a_time_and_caps_the_pixel_limit(model):
    limit = process_rss() + HEADROOM + 100 * MIB
    settings = ServeSettings(model_uri=str(model), threads=1, max_batch=1, batch_wait_ms=0, max_bytes=1_000_000,
                             memory_limit=limit)
    with running_server(settings, loader=slow_loader) as server, httpx.Client(base_url=server.url) as client:
        budget = server.service.admission.budget
        assert 40 * MIB < budget < 160 * MIB  # 100 MiB less what the process grew by while loading
        max_pixels = server.service.limits.max_pixels
        assert max_pixels == (budget - 1_000_000) // BYTES_PER_PIXEL < settings.max_pixels
        large = _picture(int(0.7 * budget / BYTES_PER_PIXEL))  # one fits, two do not
        responses = sorted(_post_all(server.url, [large, large]), key=lambda r: r.status_code)
        assert [r.status_code for r in responses] == [200, 503]
        assert "memory budget held by requests in flight" in responses[1].json()["error"]
        r = client.post("/v1/segment", content=_picture(int(max_pixels * 1.1)))
        assert r.status_code == 413 and "lowered to fit PERSONSEG_MEMORY_LIMIT" in r.json()["error"]
        assert client.post("/v1/segment", content=large).status_code == 200, "the budget was given back"
        text = _settled(client)
        assert metric_value(text, "personseg_reserved_bytes") == 0


def test_a_memory_limit_too_small_for_one_image_stops_the_server_with_the_reason(model):
    settings = ServeSettings(model_uri=str(model), threads=1, memory_limit=process_rss() + HEADROOM + 4 * MIB)
    server = start_server(settings, ready=False)
    server.thread.join(20)
    assert not server.thread.is_alive(), "server kept running with no room for a request"
    assert "not enough for one 1 MP image" in server.service.load_error
    assert "PERSONSEG_MEMORY_LIMIT" in server.service.load_error
