"""A full ``max_batch`` v2 request, written as each common client writes JSON, is accepted over real HTTP.

Each client sends the float32 tensor as Python floats. The bodies are built here the way each one builds
them, with the JSON library it uses:

- Python's ``json.dumps`` of ``x.tolist()`` (nested, ", " between values): what a script writes by hand.
- The KServe Python SDK: ``InferInput.set_data_from_numpy(x, binary_data=False)`` flattens to
  ``[v.item() for v in x.flatten()]`` (kserve ``python/kserve/kserve/protocol/infer_type.py``), and
  ``InferenceRESTClient.infer`` sends ``orjson.dumps`` of ``InferRequest.to_rest()``, which adds an ``id``
  and ``model_name`` (``python/kserve/kserve/inference_client.py``; both read at the 0.21 series).
- tritonclient.http with ``binary_data=False``: the same flat list (``tritonclient/http/_infer_input.py``)
  inside ``rapidjson.dumps`` (``tritonclient/http/_utils.py``, ``_get_inference_request``).

The SDKs themselves are not installed (their HTTP stacks pull in grpc, gevent and Kubernetes clients);
their bodies are byte for byte what the cited code produces for this tensor. What the SDKs do that this
test does not: tritonclient's default ``binary_data=True`` sends the binary tensor extension, which this
server does not offer (``GET /v2`` lists no extensions).
"""

import json
import uuid

import httpx
import numpy as np
import orjson
import pytest
import rapidjson
from serving_fixtures import SIZE, make_tiny_model, reference_logits, running_server

from personseg.imageops import sigmoid
from personseg.serving.oip import max_request_bytes
from personseg.serving.settings import ServeSettings

MAX_BATCH = 8


def _tensor(name: str, x: np.ndarray, data: object) -> dict:
    return {"name": name, "shape": list(x.shape), "datatype": "FP32", "data": data}


def python_json(x: np.ndarray) -> bytes:
    return json.dumps({"inputs": [_tensor("input", x, x.tolist())]}).encode()


def kserve_sdk(x: np.ndarray) -> bytes:
    flat = [v.item() for v in x.flatten()]
    return orjson.dumps({"id": str(uuid.uuid4()), "model_name": "seg", "inputs": [_tensor("input", x, flat)]})


def tritonclient_json(x: np.ndarray) -> bytes:
    flat = [v.item() for v in x.flatten()]
    outputs = [{"name": "probabilities", "parameters": {"binary_data": False}}]
    return rapidjson.dumps({"id": "1", "inputs": [_tensor("input", x, flat)], "outputs": outputs}).encode()


def longest_values(shape: tuple[int, ...]) -> np.ndarray:
    """Values in [1e-5, 1e-4): every encoder writes them longest (17 digits, an exponent or four zeros)."""
    return np.random.default_rng(0).uniform(1e-5, 1e-4, shape).astype(np.float32)


def image_values(shape: tuple[int, ...]) -> np.ndarray:
    """An ordinary photo: pixel / 255."""
    return (np.random.default_rng(1).integers(0, 256, shape) / 255.0).astype(np.float32)


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    model = make_tiny_model(tmp_path_factory.mktemp("json-clients") / "tiny")
    settings = ServeSettings(model_uri=str(model), name="seg", threads=1, max_batch=MAX_BATCH, batch_wait_ms=1)
    with running_server(settings) as running:
        yield running


@pytest.mark.parametrize("values", [longest_values, image_values])
@pytest.mark.parametrize("encode", [python_json, kserve_sdk, tritonclient_json])
def test_a_full_batch_from_each_client_is_accepted(server, encode, values):
    x = values((MAX_BATCH, 3, SIZE, SIZE))
    body = encode(x)
    r = httpx.post(f"{server.url}/v2/models/seg/infer", content=body,
                   headers={"content-type": "application/json"}, timeout=60)
    assert r.status_code == 200, (len(body), r.text[:300])
    out = r.json()["outputs"][0]
    assert out["shape"] == [MAX_BATCH, 1, SIZE, SIZE]
    got = np.asarray(out["data"], np.float32).reshape(out["shape"])
    np.testing.assert_allclose(got, sigmoid(reference_logits(x)), atol=1e-5)


def test_the_limit_is_the_longest_client_body_not_far_more():
    x = longest_values((MAX_BATCH, 3, SIZE, SIZE))
    longest = max(len(encode(x)) for encode in (python_json, kserve_sdk, tritonclient_json))
    limit = max_request_bytes(SIZE, MAX_BATCH)
    assert 0.9 * limit < longest <= limit, (longest, limit)


def test_twice_max_batch_is_still_refused_by_size(server):
    x = longest_values((2 * MAX_BATCH, 3, SIZE, SIZE))
    r = httpx.post(f"{server.url}/v2/models/seg/infer", content=python_json(x),
                   headers={"content-type": "application/json"}, timeout=60)
    assert r.status_code == 413 and "over this server's limit" in r.json()["error"]
