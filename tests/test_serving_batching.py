"""Concurrent requests are batched together, and every caller still gets its own answer."""

import concurrent.futures

import httpx
import numpy as np
from serving_fixtures import (
    SIZE,
    decode_png,
    encode,
    make_tiny_model,
    metric_value,
    reference_logits,
    reference_mask,
    running_server,
    split_image,
)

from personseg.imageops import sigmoid
from personseg.serving.settings import ServeSettings


def test_concurrent_segment_and_v2_requests_share_batches_without_mixing_results(tmp_path):
    model = make_tiny_model(tmp_path / "tiny")
    settings = ServeSettings(model_uri=str(model), threads=1, max_batch=8, batch_wait_ms=100)
    images = [split_image(40 + 7 * i, 30 + 3 * i, bright_left=i % 2 == 0) for i in range(12)]
    tensors = [np.random.default_rng(i).random((2, 3, SIZE, SIZE), dtype=np.float32) for i in range(4)]
    with running_server(settings) as server, httpx.Client(base_url=server.url, timeout=20) as client:
        before = client.get("/metrics").text

        def segment(image):
            r = client.post("/v1/segment", content=encode(image, "PNG"))
            assert r.status_code == 200, r.text
            return np.asarray(decode_png(r.content))

        def infer(batch):
            body = {"inputs": [{"name": "input", "shape": list(batch.shape), "datatype": "FP32",
                                "data": batch.ravel().tolist()}]}
            r = client.post("/v2/models/personseg/infer", json=body)
            assert r.status_code == 200, r.text
            out = r.json()["outputs"][0]
            return np.asarray(out["data"], np.float32).reshape(out["shape"])

        with concurrent.futures.ThreadPoolExecutor(16) as pool:
            masks = pool.map(segment, images)
            probs = pool.map(infer, tensors)
            masks, probs = list(masks), list(probs)
        after = client.get("/metrics").text

    for image, mask in zip(images, masks):
        np.testing.assert_array_equal(mask, reference_mask(image))
    for batch, prob in zip(tensors, probs):
        np.testing.assert_allclose(prob, sigmoid(reference_logits(batch)), atol=1e-5)

    def delta(name, labels=None):
        return metric_value(after, name, labels) - metric_value(before, name, labels)

    images_run = 12 + 2 * 4
    batches = delta("personseg_batch_size_count")
    assert delta("personseg_batch_size_sum") == images_run
    assert delta("personseg_images_total") == images_run
    assert batches < images_run  # some calls carried several images
    assert batches - delta("personseg_batch_size_bucket", {"le": "1.0"}) >= 1  # a batch bigger than one
    assert metric_value(after, "personseg_batch_size_bucket", {"le": "8.0"}) == metric_value(
        after, "personseg_batch_size_count")  # never above max_batch
