"""Every endpoint over real HTTP against one running server: v2 protocol, /v1/segment, bad input."""

import logging
import socket
import threading

import httpx
import numpy as np
import pytest
from PIL import Image
from serving_fixtures import (
    SIZE,
    decode_png,
    encode,
    make_tiny_model,
    metric_value,
    png_header_only,
    reference_logits,
    reference_mask,
    reference_probability,
    running_server,
    split_image,
)

from personseg.imageops import sigmoid
from personseg.serving.settings import ServeSettings
from personseg.serving.timeline import STAGES

MAX_BYTES = 300_000
MAX_PIXELS = 1_000_000


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    model = make_tiny_model(tmp_path_factory.mktemp("serving") / "tiny")
    settings = ServeSettings(model_uri=str(model), name="seg", threads=1, max_bytes=MAX_BYTES,
                             max_pixels=MAX_PIXELS, batch_wait_ms=1)
    with running_server(settings) as running:
        yield running


@pytest.fixture(scope="module")
def client(server):
    with httpx.Client(base_url=server.url, timeout=10) as c:
        yield c


def v2_body(batch: np.ndarray, **extra) -> dict:
    return {"inputs": [{"name": "input", "shape": list(batch.shape), "datatype": "FP32",
                        "data": batch.ravel().tolist()}], **extra}


# -- health and metadata ----------------------------------------------------------------------------

def test_health_and_metadata(server, client):
    assert client.get("/v2/health/live").json() == {"live": True}
    assert client.get("/v2/health/ready").json() == {"ready": True}
    assert client.get("/v2/models/seg/ready").json() == {"name": "seg", "ready": True}
    meta = client.get("/v2").json()
    assert meta["name"] == "personseg" and isinstance(meta["version"], str) and meta["extensions"] == []
    model = client.get("/v2/models/seg").json()
    assert model == {
        "name": "seg", "versions": [server.service.model.version], "platform": "onnxruntime_onnx",
        "inputs": [{"name": "input", "datatype": "FP32", "shape": [-1, 3, SIZE, SIZE]}],
        "outputs": [{"name": "probabilities", "datatype": "FP32", "shape": [-1, 1, SIZE, SIZE]}],
    }


@pytest.mark.parametrize("method, path", [("GET", "/v2/models/other"), ("GET", "/v2/models/other/ready"),
                                          ("POST", "/v2/models/other/infer"), ("GET", "/nothing/here")])
def test_unknown_model_or_path_is_404_json(client, method, path):
    r = client.request(method, path, json={})
    assert r.status_code == 404
    assert "other" in r.json()["error"] or "/nothing/here" in r.json()["error"]


def test_wrong_method_is_405_json(client):
    r = client.get("/v1/segment")
    assert r.status_code == 405 and "GET /v1/segment" in r.json()["error"]


# -- v2 inference -----------------------------------------------------------------------------------

def test_v2_infer_returns_probabilities_of_the_right_shape(client):
    batch = np.random.default_rng(1).random((3, 3, SIZE, SIZE), dtype=np.float32)
    r = client.post("/v2/models/seg/infer", json=v2_body(batch, id="abc", outputs=[{"name": "probabilities"}]))
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["id"] == "abc" and body["model_name"] == "seg"
    (out,) = body["outputs"]
    assert out["name"] == "probabilities" and out["datatype"] == "FP32" and out["shape"] == [3, 1, SIZE, SIZE]
    got = np.asarray(out["data"], dtype=np.float32).reshape(out["shape"])
    np.testing.assert_allclose(got, sigmoid(reference_logits(batch)), atol=1e-5)


@pytest.mark.parametrize("mutate, words", [
    (lambda b: {**b, "inputs": [{**b["inputs"][0], "datatype": "FP64"}]}, "datatype is 'FP64'"),
    (lambda b: {**b, "inputs": [{**b["inputs"][0], "shape": [1, 3, 32, 32]}]}, "shape is [1, 3, 32, 32]"),
    (lambda b: {**b, "inputs": [{**b["inputs"][0], "data": b["inputs"][0]["data"][:-1]}]}, "needs 12288"),
    (lambda b: {**b, "inputs": [{**b["inputs"][0], "name": "image"}]}, "input is 'input'"),
    (lambda b: {"inputs": "nope"}, "exactly one tensor"),
    (lambda b: {**b, "inputs": [{**b["inputs"][0], "data": [10**400] + b["inputs"][0]["data"][1:]}]}, "out of range"),
    (lambda b: {**b, "inputs": [{**b["inputs"][0], "data": [True] + b["inputs"][0]["data"][1:]}]}, "found bool"),
    (lambda b: {**b, "inputs": [{**b["inputs"][0], "data": ["0.5"] + b["inputs"][0]["data"][1:]}]}, "found string"),
])
def test_v2_bad_tensors_are_400_naming_the_field(client, mutate, words):
    good = v2_body(np.full((1, 3, SIZE, SIZE), 0.5, np.float32))
    r = client.post("/v2/models/seg/infer", json=mutate(good))
    assert r.status_code == 400 and words in r.json()["error"]


DEEP = 100_000


@pytest.mark.parametrize("body, words", [
    (b"[" * DEEP + b"]" * DEEP, "nested deeper than 64 levels"),
    (b'{"a":' * DEEP + b"1" + b"}" * DEEP, "nested deeper than 64 levels"),
    # closing brackets inside a string must not hide the nesting that follows it
    (b'{"id":"' + b"]" * DEEP + b'","inputs":' + b"[" * DEEP, "nested deeper than 64 levels"),
    (b'{"inputs":' + b"1" * 5000 + b"}", "more than 4300 digits"),
])
def test_v2_json_the_parser_cannot_take_is_400_logged_in_one_line(client, caplog, body, words):
    caplog.set_level(logging.INFO)
    r = client.post("/v2/models/seg/infer", content=body, headers={"content-type": "application/json"})
    assert r.status_code == 400 and words in r.json()["error"], r.text[:300]
    assert client.get("/v2/health/ready").status_code == 200
    assert client.post("/v2/models/seg/infer", json=v2_body(np.full((1, 3, SIZE, SIZE), 0.5, np.float32))).is_success
    logged = [rec for rec in caplog.records if words in rec.getMessage()]
    assert len(logged) == 1 and "\n" not in logged[0].getMessage()
    assert not any(rec.exc_info for rec in caplog.records) and "Traceback" not in caplog.text


def test_v2_brackets_inside_strings_do_not_count_as_nesting(client):
    body = v2_body(np.full((1, 3, SIZE, SIZE), 0.5, np.float32), id='["\\' + "[" * 1000)
    assert client.post("/v2/models/seg/infer", json=body).json()["id"] == body["id"]


def test_v2_non_json_and_oversized_bodies(client):
    r = client.post("/v2/models/seg/infer", content=b"\x00\x01binary", headers={"content-type": "application/json"})
    assert r.status_code == 400 and "not JSON" in r.json()["error"]
    huge = b"[" + b"0.5," * 2_000_000 + b"0.5]"
    r = client.post("/v2/models/seg/infer", content=huge, headers={"content-type": "application/json"})
    assert r.status_code == 413 and "over this server's limit" in r.json()["error"]


# -- /v1/segment ------------------------------------------------------------------------------------

def test_segment_raw_body_returns_the_thresholded_mask_at_input_size(client):
    image = split_image(100, 60)
    r = client.post("/v1/segment", content=encode(image, "PNG"))
    assert r.status_code == 200 and r.headers["content-type"] == "image/png"
    mask = decode_png(r.content)
    assert mask.mode == "L" and mask.size == (100, 60)
    got = np.asarray(mask)
    np.testing.assert_array_equal(got, reference_mask(image))
    assert set(np.unique(got)) == {0, 255} and got[:, :40].min() == 255 and got[:, 60:].max() == 0


def test_segment_probability_is_the_models_soft_output(client):
    image = split_image(100, 60)
    got = np.asarray(decode_png(client.post("/v1/segment?output=probability", content=encode(image)).content))
    np.testing.assert_array_equal(got, reference_probability(image))
    assert 0 < np.count_nonzero((got > 10) & (got < 245))  # soft edge kept, not thresholded


def test_cutout_of_an_unsure_background_is_clean_unless_alpha_soft(client):
    # mean 117/255: the tiny model says p = 0.3 there, never sure; the white disc is p = 1
    scene = np.full((60, 80, 3), 117, np.uint8)
    y, x = np.mgrid[0:60, 0:80]
    scene[(x - 40) ** 2 + (y - 30) ** 2 < 15 ** 2] = 255
    data = encode(Image.fromarray(scene))
    far = (x - 40) ** 2 + (y - 30) ** 2 > 25 ** 2
    clean = np.asarray(decode_png(client.post("/v1/segment?output=cutout", content=data).content))[..., 3]
    soft = np.asarray(decode_png(client.post("/v1/segment?output=cutout&alpha=soft", content=data).content))[..., 3]
    mask = np.asarray(decode_png(client.post("/v1/segment", content=data).content))
    assert (clean[far] == 0).all() and 60 < soft[far].min() <= soft[far].max() < 100
    np.testing.assert_array_equal(clean >= 128, mask == 255)
    comp = np.asarray(decode_png(client.post("/v1/segment?output=composite&background=00ff00", content=data).content))
    assert (comp[far] == (0, 255, 0)).all()


def test_segment_multipart_cutout_and_composites(client):
    image = split_image(80, 80, bright_left=False)
    files = {"image": ("photo.jpg", encode(image, "JPEG"), "image/jpeg")}
    cut = decode_png(client.post("/v1/segment?output=cutout", files=files).content)
    assert cut.mode == "RGBA" and cut.size == (80, 80)
    assert cut.getpixel((75, 40))[3] > 200 and cut.getpixel((5, 40))[3] < 50
    comp = decode_png(client.post("/v1/segment?output=composite&background=ff0000", files=files).content)
    assert comp.mode == "RGB" and comp.getpixel((5, 40))[0] > 200 and comp.getpixel((5, 40))[1] < 50
    blue = encode(Image.new("RGB", (30, 20), (0, 0, 255)), "PNG")
    files_bg = {**files, "background": ("bg.png", blue, "image/png")}
    comp2 = decode_png(client.post("/v1/segment?output=composite", files=files_bg).content)
    assert comp2.getpixel((5, 40))[2] > 200 and comp2.getpixel((5, 40))[0] < 50  # the uploaded blue shows
    assert min(comp2.getpixel((75, 40))) > 240  # the (white) person stays in front


def _grey_scene(width: int = 90, height: int = 70) -> np.ndarray:
    """A dark gradient with a bright disc (the tiny model's "person"), 8-bit."""
    y, x = np.mgrid[0:height, 0:width]
    scene = 20 + 80 * x / width
    scene[(x - 30) ** 2 + (y - 35) ** 2 < 20**2] = 220
    return scene.astype(np.uint8)


def test_16bit_png_gives_the_8bit_mask_and_cutout(client):
    eight = _grey_scene()
    noise = np.random.default_rng(3).integers(0, 257, eight.shape)
    sixteen = Image.fromarray((eight.astype(np.uint16) * 257 + noise).clip(0, 65535).astype(np.uint16))
    assert decode_png(encode(sixteen)).mode == "I;16"
    masks = [np.asarray(decode_png(client.post("/v1/segment", content=encode(im)).content)) > 127
             for im in (Image.fromarray(eight), sixteen)]
    assert 0.1 < masks[0].mean() < 0.5
    assert (masks[0] & masks[1]).sum() / (masks[0] | masks[1]).sum() >= 0.95
    cuts = [np.asarray(decode_png(client.post("/v1/segment?output=cutout", content=encode(im)).content), np.int16)
            for im in (Image.fromarray(eight), sixteen)]
    assert np.abs(cuts[1][..., :3] - cuts[0][..., :3]).max() <= 1


# -- bad input: each a 4xx JSON error naming the problem; the server keeps serving -------------------

NOISE = Image.fromarray(np.random.default_rng(0).integers(0, 256, (300, 300, 3), dtype=np.uint8), "RGB")


@pytest.mark.parametrize("path, kwargs, status, words", [
    ("/v1/segment", {"content": b"definitely not an image"}, 400, "not an image"),
    ("/v1/segment", {"content": b""}, 400, "empty"),
    ("/v1/segment", {"content": encode(NOISE, "PNG")[:20000]}, 400, "truncated"),
    ("/v1/segment", {"content": encode(split_image(), "GIF")}, 415, "unsupported image format GIF"),
    ("/v1/segment", {"content": png_header_only(30000, 30000)}, 413, "decompression bomb"),
    ("/v1/segment", {"content": png_header_only(1200, 1000)}, 413, "PERSONSEG_MAX_PIXELS"),
    ("/v1/segment", {"content": b"\xff\xd8" + bytes(MAX_BYTES)}, 413, "PERSONSEG_MAX_BYTES"),
    ("/v1/segment?output=jpeg", {"content": encode(split_image())}, 400, "output='jpeg'"),
    ("/v1/segment?output=composite&background=blue", {"content": encode(split_image())}, 400, "RRGGBB"),
    ("/v1/segment?background=00ff00", {"content": encode(split_image())}, 400, "only used with output=composite"),
    ("/v1/segment?output=cutout&alpha=fuzzy", {"content": encode(split_image())}, 400, "alpha='fuzzy'"),
    ("/v1/segment?alpha=soft", {"content": encode(split_image())}, 400, "only used with output=cutout"),
    ("/v1/segment", {"files": {"picture": ("a.png", encode(split_image()))}}, 400, "unexpected part(s) picture"),
    ("/v1/segment", {"files": {"background": ("a.png", encode(split_image()))}}, 400, "no 'image' part"),
    ("/v1/segment", {"data": {"image": "text, not a file"}, "files": {"background": ("b.png", b"x")}},
     400, "must be a file upload"),
    ("/v1/segment?output=composite",
     {"files": {"image": ("a.png", encode(split_image())), "background": ("b.txt", b"plain text")}},
     400, "background: not an image"),
])
def test_bad_image_requests_get_4xx_json_and_server_stays_up(client, path, kwargs, status, words):
    r = client.post(path, **kwargs)
    assert r.status_code == status, r.text
    assert r.headers["content-type"] == "application/json" and words in r.json()["error"]
    assert client.post("/v1/segment", content=encode(split_image())).status_code == 200


def test_chunked_upload_over_the_byte_limit_is_refused(client):
    def chunks():
        for _ in range(10):
            yield bytes(MAX_BYTES // 4)

    r = client.post("/v1/segment", content=chunks())
    assert r.status_code == 413 and "PERSONSEG_MAX_BYTES" in r.json()["error"]


def test_request_cannot_make_the_server_read_files_or_fetch_urls(client, tmp_path):
    secret = tmp_path / "secret.png"
    secret.write_bytes(encode(split_image()))
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(1.0)
    port = listener.getsockname()[1]
    hits = []
    threading.Thread(target=lambda: hits.append(_accept(listener)), daemon=True).start()
    for body in (str(secret).encode(), f"file://{secret}".encode(), f"http://127.0.0.1:{port}/x.png".encode()):
        r = client.post("/v1/segment", content=body)
        assert r.status_code == 400 and "not an image" in r.json()["error"]
    r = client.post("/v2/models/seg/infer", json={"inputs": [{"name": "input", "shape": [1, 3, SIZE, SIZE],
                                                              "datatype": "FP32", "data": str(secret)}]})
    assert r.status_code == 400
    listener.close()
    assert hits in ([], [None])


def _accept(listener):
    try:
        return listener.accept()
    except OSError:
        return None


def test_metrics_count_requests_errors_latency_and_name_the_model(client):
    before = client.get("/metrics").text
    errors_before = metric_value(before, "personseg_request_errors_total", {"route": "/v1/segment",
                                                                           "reason": "not_image"})
    assert client.post("/v1/segment", content=b"nope").status_code == 400
    assert client.post("/v1/segment", content=encode(split_image())).status_code == 200
    text = client.get("/metrics").text
    assert metric_value(text, "personseg_request_errors_total",
                        {"route": "/v1/segment", "reason": "not_image"}) == errors_before + 1
    assert metric_value(text, "personseg_requests_total",
                        {"route": "/v1/segment", "method": "POST", "status": "200"}) >= 1
    assert metric_value(text, "personseg_request_duration_seconds_count", {"route": "/v1/segment"}) >= 2
    assert metric_value(text, "personseg_batch_size_count") >= 1
    assert metric_value(text, "personseg_ready") == 1.0
    assert metric_value(text, "personseg_model_info", {"name": "seg", "kind": "onnx", "precision": "fp32"}) == 1.0
    assert 'version="' in text.split("personseg_model_info{")[1].split("}")[0]


def test_segment_stages_are_counted_per_answer_and_add_up_within_the_route_time(client):
    before = client.get("/metrics").text
    for _ in range(3):
        assert client.post("/v1/segment", content=encode(split_image())).status_code == 200
    after = client.get("/metrics").text

    def delta(name, labels):
        return metric_value(after, name, labels) - metric_value(before, name, labels)

    seconds = {stage: delta("personseg_segment_stage_seconds_sum", {"stage": stage}) for stage in STAGES}
    assert {stage: delta("personseg_segment_stage_seconds_count", {"stage": stage}) for stage in STAGES} == {
        stage: 3 for stage in STAGES}
    assert min(seconds.values()) >= 0
    assert seconds["decode"] > 0 and seconds["model"] > 0 and seconds["render"] > 0
    assert sum(seconds.values()) <= delta("personseg_request_duration_seconds_sum", {"route": "/v1/segment"})


def _raw_request(url: str, head: bytes) -> bytes:
    """Send ``head`` on a fresh socket and return the whole reply (the server closes or answers)."""
    host, port = url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        sock.sendall(head)
        reply = b""
        while b"\r\n\r\n" not in reply:
            chunk = sock.recv(65536)
            if not chunk:
                break
            reply += chunk
        return reply


@pytest.mark.parametrize("parser", ["httptools", "h11"])
def test_random_methods_add_no_metric_series(tmp_path, parser):
    """No method a client invents becomes a ``method`` label value.

    h11 takes any token as a method (the app answers 405, counted as ``other``); httptools (llhttp) refuses
    a method it does not know with 400 before the app sees it, so nothing is counted.
    """
    settings = ServeSettings(model_uri=str(make_tiny_model(tmp_path / "tiny")), threads=1, http=parser)
    rng = np.random.default_rng(7)
    letters = np.frombuffer(b"ABCDEFGHIJKLMNOPQRSTUVWXYZ", dtype=np.uint8)
    status = b"HTTP/1.1 405" if parser == "h11" else b"HTTP/1.1 400"
    with running_server(settings) as server, httpx.Client(base_url=server.url, timeout=10) as client:
        before = ""
        for i in range(41):  # the first one adds the series "other" fills: count from there
            method = rng.choice(letters, 4000).tobytes()
            reply = _raw_request(server.url, method + b" /v1/segment HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n")
            assert reply.startswith(status), reply[:100]
            before = before or client.get("/metrics").text
        after = client.get("/metrics").text
    assert len(after) - len(before) < 2000, f"/metrics grew by {len(after) - len(before)} bytes"
    labels = {"route": "/v1/segment", "method": "other", "status": "405"}
    counted = metric_value(after, "personseg_requests_total", labels) - metric_value(before, "personseg_requests_total",
                                                                                      labels)
    assert counted == (40 if parser == "h11" else 0)
