"""Serving on OpenVINO over real HTTP: the card's runtime, ``--runtime`` overriding it, and an IR model."""

import os
import signal
import subprocess
import sys
import time

import httpx
import numpy as np
import pytest
from PIL import Image
from serving_fixtures import (
    decode_png,
    encode,
    make_tiny_model,
    make_tiny_openvino_model,
    reference_mask,
    running_server,
    split_image,
)

from personseg.errors import UserError
from personseg.netutil import free_port
from personseg.quality import iou
from personseg.serving.settings import ServeSettings, settings_from_env

pytest.importorskip("openvino")

# The CLI as a process in which importing torch or onnxruntime fails: the OpenVINO path needs neither.
NO_TORCH_NO_ORT = """
import sys

class Blocked:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in ("torch", "onnxruntime"):
            raise ModuleNotFoundError(f"No module named {name!r} (blocked by the test)")
        return None

sys.meta_path.insert(0, Blocked())
from personseg.cli import main
sys.exit(main(sys.argv[1:]))
"""


def _segment(settings, image):
    with running_server(settings) as server, httpx.Client(base_url=server.url, timeout=30) as client:
        platform = client.get("/v2/models/personseg").json()["platform"]
        response = client.post("/v1/segment", content=encode(image))
        assert response.status_code == 200, response.text
        metrics = client.get("/metrics").text
    return platform, np.asarray(decode_png(response.content)), metrics


def test_one_int8_onnx_model_served_by_both_runtimes_answers_the_same_mask(tiny_int8, tiny_dataset):
    image = Image.open(sorted((tiny_dataset / "images").iterdir())[0]).convert("RGB")
    masks = {}
    for runtime, platform in (("onnxruntime", "onnxruntime_onnx"), ("openvino", "openvino_onnx")):
        got, mask, metrics = _segment(ServeSettings(model_uri=str(tiny_int8), threads=1, runtime=runtime), image)
        assert got == platform
        assert f'runtime="{runtime}"' in metrics
        masks[runtime] = mask > 127
    person = masks["onnxruntime"]
    assert 0.02 < person.mean() < 0.98  # a real figure, not a blank or full mask
    assert iou(masks["openvino"], person.astype(np.uint8)) >= 0.98


def test_an_openvino_ir_model_serves_by_its_card(tmp_path):
    model = make_tiny_openvino_model(tmp_path / "ir")
    image = split_image(100, 60)
    platform, mask, _ = _segment(ServeSettings(model_uri=str(model), threads=1, max_batch=2), image)
    assert platform == "openvino_ir"
    assert np.abs(mask.astype(int) - reference_mask(image).astype(int)).max() <= 1
    assert mask[:, :40].min() > 200 and mask[:, 60:].max() < 50


def test_serve_runtime_flag_runs_openvino_without_torch_or_onnxruntime(tmp_path):
    model = make_tiny_model(tmp_path / "onnx")
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    proc = subprocess.Popen([sys.executable, "-c", NO_TORCH_NO_ORT, "serve", "--model", str(model), "--runtime",
                             "openvino", "--host", "127.0.0.1", "--port", str(port), "--threads", "1"],
                            env={**os.environ, "PERSONSEG_RUNTIME": "onnxruntime"},  # the flag wins
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 60
        while True:
            assert proc.poll() is None, proc.communicate()[1]
            assert time.monotonic() < deadline, "server never became ready"
            try:
                if httpx.get(f"{url}/v2/health/ready", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        assert httpx.get(f"{url}/v2/models/personseg").json()["platform"] == "openvino_onnx"
        image = split_image(90, 50)
        response = httpx.post(f"{url}/v1/segment", content=encode(image), timeout=30)
        assert response.status_code == 200, response.text
        mask = np.asarray(decode_png(response.content))
        assert np.abs(mask.astype(int) - reference_mask(image).astype(int)).max() <= 1
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            _, stderr = proc.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            _, stderr = proc.communicate()
    assert proc.returncode == 0, stderr
    assert "on openvino" in stderr


def test_runtime_setting_comes_from_the_environment_and_is_checked():
    assert settings_from_env({"PERSONSEG_RUNTIME": "openvino"}).runtime == "openvino"
    with pytest.raises(UserError, match="runtime='tensorrt'"):
        ServeSettings(model_uri="m", runtime="tensorrt").validated()


def test_a_runtime_that_cannot_run_the_model_stops_the_server_with_the_reason(tmp_path):
    from serving_fixtures import start_server

    model = make_tiny_openvino_model(tmp_path / "ir")
    server = start_server(ServeSettings(model_uri=str(model), threads=1, runtime="onnxruntime"), ready=False)
    try:
        server.thread.join(30)
        assert not server.thread.is_alive()
        assert "runtime is 'onnxruntime' but the model's kind is 'openvino'" in server.service.load_error
    finally:
        server.stop()
