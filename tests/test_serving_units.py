"""Pure pieces of the server: settings, image decoding, v2 parsing, batching, outputs."""

import json
import threading
import time

import numpy as np
import pytest
from PIL import Image
from serving_fixtures import encode, png_header_only, split_image

from personseg.errors import UserError
from personseg.serving import compose, oip
from personseg.serving.batcher import MicroBatcher
from personseg.serving.bounded_json import load_json
from personseg.serving.decode import ImageLimits, decode_image
from personseg.serving.errors import InferenceFailed, RequestError
from personseg.serving.settings import ServeSettings, settings_from_env

LIMITS = ImageLimits(max_bytes=200_000, max_pixels=1_000_000)
NOISE = Image.fromarray(np.random.default_rng(0).integers(0, 256, (60, 100, 3), dtype=np.uint8), "RGB")


# -- settings ---------------------------------------------------------------------------------------

def test_env_sets_fields_and_flags_override_env():
    env = {"PERSONSEG_MODEL_URI": "models:/seg/3", "PERSONSEG_MAX_BATCH": "4", "PERSONSEG_BATCH_WAIT_MS": "2.5",
           "PERSONSEG_MAX_PIXELS": "1000", "PERSONSEG_MAX_BYTES": "99", "PERSONSEG_THREADS": "3", "PORT": "9000"}
    s = settings_from_env(env)
    assert (s.model_uri, s.max_batch, s.batch_wait_ms, s.max_pixels, s.max_bytes, s.threads, s.port) == (
        "models:/seg/3", 4, 2.5, 1000, 99, 3, 9000)
    s2 = s.with_overrides(max_batch=8, port=None, model_uri="/m")
    assert (s2.max_batch, s2.port, s2.model_uri) == (8, 9000, "/m")
    assert settings_from_env({}) == ServeSettings()


def test_bad_env_value_names_the_variable():
    with pytest.raises(UserError, match="PERSONSEG_MAX_BATCH='eight'"):
        settings_from_env({"PERSONSEG_MAX_BATCH": "eight"})


@pytest.mark.parametrize("change, field", [({"model_uri": ""}, "PERSONSEG_MODEL_URI"), ({"max_batch": 0}, "max_batch"),
                                           ({"batch_wait_ms": -1}, "batch_wait_ms"), ({"name": "a/b"}, "name")])
def test_validation_names_the_setting(change, field):
    with pytest.raises(UserError, match=field):
        ServeSettings(model_uri="/m").with_overrides(**change).validated()


# -- decoding ---------------------------------------------------------------------------------------

def test_decode_accepts_supported_formats_and_applies_exif_orientation():
    for fmt in ("PNG", "JPEG", "WEBP", "BMP"):
        assert decode_image(encode(split_image(), fmt), LIMITS).size == (100, 60)
    exif = Image.Exif()
    exif[0x0112] = 6  # rotated 90 degrees: displayed as 60 x 100
    buf = encode(split_image(), "PNG")
    import io
    out = io.BytesIO()
    Image.open(io.BytesIO(buf)).save(out, format="JPEG", exif=exif)
    assert decode_image(out.getvalue(), LIMITS).size == (60, 100)


@pytest.mark.parametrize("data, status, kind, words", [
    (b"", 400, "empty", "empty"),
    (b"GET / HTTP/1.1 this is text", 400, "not_image", "not an image"),
    (encode(NOISE, "PNG")[:9000], 400, "truncated", "truncated"),
    (encode(NOISE, "JPEG")[:3000], 400, "truncated", "truncated"),
    (encode(split_image(), "GIF"), 415, "unsupported_format", "unsupported image format GIF"),
    (encode(split_image(), "TIFF"), 415, "unsupported_format", "TIFF"),
    (png_header_only(20000, 20000), 413, "decompression_bomb", "decompression bomb"),
    (png_header_only(10000, 10000), 413, "decompression_bomb", "decompression bomb"),
    (png_header_only(1001, 1000), 413, "too_many_pixels", "PERSONSEG_MAX_PIXELS"),
    (b"\xff\xd8" + b"\0" * 300_000, 413, "too_many_bytes", "PERSONSEG_MAX_BYTES"),
])
@pytest.mark.filterwarnings("ignore::PIL.Image.DecompressionBombWarning")  # 1x-2x: Pillow only warns, we refuse
def test_decode_refuses_bad_images_with_a_named_reason(data, status, kind, words):
    with pytest.raises(RequestError, match=words) as info:
        decode_image(data, LIMITS)
    assert (info.value.status, info.value.kind) == (status, kind)


# -- v2 protocol ------------------------------------------------------------------------------------

def _v2(shape=(1, 3, 16, 16), **changes):
    data = np.full(shape, 0.25, dtype=np.float32).ravel().tolist()
    tensor = {"name": "input", "shape": list(shape), "datatype": "FP32", "data": data}
    tensor.update(changes)
    return {"id": "r1", "inputs": [tensor]}


def test_v2_parse_flat_and_nested():
    req = oip.parse_infer(json.dumps(_v2((2, 3, 16, 16))).encode(), 16)
    assert req.id == "r1" and req.batch.shape == (2, 3, 16, 16) and req.batch.dtype == np.float32
    nested = _v2(data=np.full((1, 3, 16, 16), 0.5).tolist())
    assert oip.parse_infer(json.dumps(nested).encode(), 16).batch.shape == (1, 3, 16, 16)


@pytest.mark.parametrize("body, words", [
    (b"{not json", "not JSON"),
    (b"[1, 2]", "JSON object"),
    (json.dumps({"inputs": []}).encode(), "exactly one tensor"),
    (json.dumps(_v2(name="x")).encode(), "inputs\\[0\\].name is 'x'"),
    (json.dumps(_v2(datatype="INT8")).encode(), "datatype is 'INT8'"),
    (json.dumps(_v2(shape=[1, 3, 32, 32])).encode(), "shape is \\[1, 3, 32, 32\\]"),
    (json.dumps(_v2(shape=[3, 16, 16])).encode(), "expected \\[N, 3, 16, 16\\]"),
    (json.dumps(_v2(shape=[0, 3, 16, 16], data=[])).encode(), "N >= 1"),
    (json.dumps(_v2(data=[0.5] * 10)).encode(), "has 10 values; shape \\[1, 3, 16, 16\\] needs 768"),
    (json.dumps(_v2(data=["a"] * 768)).encode(), "only numbers"),
    (json.dumps(_v2(data=[0.5] * 767 + [True])).encode(), "only numbers.*found bool"),
    (json.dumps(_v2(data=[0.5] * 767 + ["0.5"])).encode(), "only numbers.*found string"),
    (json.dumps(_v2(data=[0.5] * 767 + [None])).encode(), "only numbers.*found NoneType"),
    (json.dumps(_v2(data=np.full((1, 3, 16, 16), True).tolist())).encode(), "found bool"),
    (json.dumps(_v2(data=[0.5] * 767 + [10**400])).encode(), "integer is out of range"),
    (json.dumps(_v2(data=[0.5] * 767 + [1])).encode().replace(b"1]", b"1e400]"), "in \\[0, 1\\]"),
    (json.dumps(_v2(data=[2.0] * 768)).encode(), "in \\[0, 1\\]"),
    (json.dumps(_v2(data=[0.5] * 767 + [float("nan")])).encode(), "NaN"),
    (json.dumps({**_v2(), "outputs": [{"name": "logits"}]}).encode(), "outputs\\[0\\].name is 'logits'"),
    (json.dumps({**_v2(), "id": 5}).encode(), "'id' must be a string"),
])
def test_v2_parse_rejects_with_the_field_named(body, words):
    with pytest.raises(RequestError, match=words) as info:
        oip.parse_infer(body, 16)
    assert info.value.status == 400


@pytest.mark.parametrize("body", [b'"' + b'\\"' * 40_000, b'"' + b'\\"' * 40_000 + b"\\"])
def test_depth_check_stays_linear_on_unterminated_strings(body):
    start = time.perf_counter()
    with pytest.raises(RequestError, match="not JSON"):
        load_json(body)
    assert time.perf_counter() - start < 5  # a backtracking string pattern took 25 s on these 80 kB


def test_v2_response_shape_and_id():
    body = json.loads(oip.infer_response("m", "42", np.full((2, 1, 4, 4), 0.5, np.float32)))
    assert body["id"] == "42" and body["model_name"] == "m"
    assert body["outputs"][0] == {"name": "probabilities", "shape": [2, 1, 4, 4], "datatype": "FP32",
                                  "data": [0.5] * 32}
    assert "id" not in json.loads(oip.infer_response("m", None, np.zeros((1, 1, 1, 1), np.float32)))


# -- micro-batcher ----------------------------------------------------------------------------------

def test_batcher_groups_waiting_items_and_returns_each_its_own_slice():
    sizes = []
    batcher = MicroBatcher(lambda b: b * 2, max_batch=4, wait_s=0.2, observe=lambda n, s: sizes.append(n))
    futures = [batcher.submit(np.full((2,), i, np.float32)) for i in range(6)]  # queued before start
    batcher.start()
    results = [f.result(timeout=5) for f in futures]
    batcher.close(timeout=5)
    assert [r.tolist() for r in results] == [[2 * i, 2 * i] for i in range(6)]
    assert sizes == [4, 2]


def test_batcher_runs_a_lone_item_at_once_when_nothing_else_is_coming():
    batcher = MicroBatcher(lambda b: b, max_batch=8, wait_s=60.0)  # a wait window would outlast the timeout
    batcher.start()
    assert batcher.submit(np.ones(1)).result(timeout=5).tolist() == [1.0]
    batcher.close(timeout=5)


def test_batcher_waits_for_expected_items_and_stops_waiting_when_they_are_withdrawn():
    sizes = []
    batcher = MicroBatcher(lambda b: b, max_batch=8, wait_s=60.0, observe=lambda n, s: sizes.append(n))
    batcher.start()
    batcher.expect(2)
    first = batcher.submit(np.ones(1), expected=True)
    threading.Timer(0.2, lambda: batcher.submit(np.zeros(1), expected=True)).start()
    assert first.result(timeout=5).tolist() == [1.0]
    assert sizes == [2]  # it waited for the second expected image
    batcher.expect(2)
    third = batcher.submit(np.full(1, 3.0), expected=True)
    threading.Timer(0.2, lambda: batcher.unexpect(1)).start()  # the other one's request failed
    assert third.result(timeout=5).tolist() == [3.0]
    batcher.close(timeout=5)
    assert sizes == [2, 1]
    assert batcher.coming() == 0


def test_batcher_failure_fails_that_batch_only_and_keeps_running():
    calls = []

    def run(batch):
        calls.append(len(batch))
        if batch[0, 0] < 0:
            raise ValueError("boom")
        return batch

    batcher = MicroBatcher(run, max_batch=2, wait_s=0.0)
    batcher.start()
    with pytest.raises(InferenceFailed, match="ValueError: boom"):
        batcher.submit(-np.ones((1,))).result(timeout=5)
    assert batcher.submit(np.ones((1,))).result(timeout=5).tolist() == [1.0]
    batcher.close(timeout=5)


def test_batcher_close_drains_queued_items_and_refuses_new_ones():
    gate = threading.Event()

    def run(batch):
        gate.wait(5)
        return batch

    batcher = MicroBatcher(run, max_batch=1, wait_s=0.0)
    batcher.start()
    futures = [batcher.submit(np.full((1,), i)) for i in range(3)]
    closer = threading.Thread(target=batcher.close, kwargs={"timeout": 10})
    closer.start()
    time.sleep(0.05)
    with pytest.raises(RuntimeError, match="closed"):
        batcher.submit(np.ones(1))
    gate.set()
    closer.join(10)
    assert [f.result(timeout=0).tolist() for f in futures] == [[0], [1], [2]]


def test_batcher_skips_cancelled_requests():
    seen = []
    batcher = MicroBatcher(lambda b: (seen.append(len(b)), b)[1], max_batch=4, wait_s=0.0)
    keep, drop = batcher.submit(np.ones(1)), batcher.submit(np.zeros(1))
    assert drop.cancel()
    batcher.start()
    assert keep.result(timeout=5).tolist() == [1.0]
    batcher.close(timeout=5)
    assert seen == [1]


# -- outputs ----------------------------------------------------------------------------------------

def test_outputs_mask_cutout_composite():
    image = split_image(8, 4)
    prob = np.zeros((4, 8), np.float32)
    prob[:, :4] = 1.0
    assert compose.mask_image(prob).getpixel((0, 0)) == 255 and compose.mask_image(prob).getpixel((7, 0)) == 0
    cut = compose.cutout(image, prob)
    assert cut.mode == "RGBA" and cut.getpixel((0, 0)) == (255, 255, 255, 255) and cut.getpixel((7, 0))[3] == 0
    comp = compose.composite(image, prob, (0, 255, 0))
    assert comp.getpixel((0, 0)) == (255, 255, 255) and comp.getpixel((7, 0)) == (0, 255, 0)
    back = Image.new("RGB", (3, 3), (0, 0, 255))
    assert compose.composite(image, prob, back).getpixel((7, 3)) == (0, 0, 255)
    assert compose.parse_colour("#00Ff10") == (0, 255, 16)
    with pytest.raises(RequestError, match="RRGGBB"):
        compose.parse_colour("green")
    with pytest.raises(RequestError, match="output='jpeg'"):
        compose.parse_output("jpeg")
