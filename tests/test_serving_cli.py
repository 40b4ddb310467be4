"""`personseg serve` as a real process (torch blocked), SIGTERM during a request, and `bench serve`."""

import json
import os
import signal
import subprocess
import sys
import threading
import time

import httpx
import numpy as np
import pytest
from serving_fixtures import decode_png, encode, make_tiny_model, reference_probability, split_image

from personseg.cli import main
from personseg.netutil import free_port
from personseg.serving.timeline import STAGES

# Run the CLI with `import torch`, `import kfp` and `import personseg_kfp` failing, as in the serving image where
# none is installed (its CLI builds every command's parser before it serves).
NO_TORCH = """
import sys

class NotInServingImage:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in ("torch", "kfp", "personseg_kfp"):
            raise ModuleNotFoundError(f"No module named {name!r} (blocked by the test)")
        return None

sys.meta_path.insert(0, NotInServingImage())
from personseg.cli import main
code = main(sys.argv[1:])
blocked = [m for m in sys.modules if m.split(".")[0] in ("torch", "kfp", "personseg_kfp")]
assert not blocked, f"imported: {blocked}"
sys.exit(code)
"""


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    return make_tiny_model(tmp_path_factory.mktemp("cli") / "tiny")


def _wait_ready(url, proc, timeout=30):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, proc.communicate()[1]
        try:
            if httpx.get(f"{url}/v2/health/ready", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    raise AssertionError("server never became ready")


def test_serve_onnx_without_torch_from_env_and_finish_a_request_on_sigterm(model):
    port = free_port()
    env = {**os.environ, "PERSONSEG_MODEL_URI": str(model), "PORT": str(port), "PERSONSEG_BATCH_WAIT_MS": "1500",
           "PERSONSEG_THREADS": "1", "PERSONSEG_MODEL_NAME": "people"}
    proc = subprocess.Popen([sys.executable, "-c", NO_TORCH, "serve", "--host", "127.0.0.1"], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_ready(url, proc)
        assert httpx.get(f"{url}/v2/models/people").json()["platform"] == "onnxruntime_onnx"
        image = split_image(90, 50)
        result = {}
        # The lone request waits 1.5 s in the batch window: SIGTERM arrives while it is in flight.
        request = threading.Thread(target=lambda: result.update(
            r=httpx.post(f"{url}/v1/segment?output=probability", content=encode(image, "JPEG"), timeout=20)))
        request.start()
        time.sleep(0.5)
        proc.send_signal(signal.SIGTERM)
        request.join(20)
        _, stderr = proc.communicate(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0, stderr
    assert result["r"].status_code == 200
    mask = np.asarray(decode_png(result["r"].content))
    assert mask.shape == (50, 90)
    assert np.abs(mask.astype(int) - reference_probability(_jpeg_roundtrip(image))).max() <= 1
    assert "ready: serving" in stderr and "Shutting down" in stderr


def test_metrics_are_served_on_their_own_port_only(model):
    port, metrics_port = free_port(), free_port()
    env = {**os.environ, "PERSONSEG_MODEL_URI": str(model), "PORT": str(port), "PERSONSEG_THREADS": "1",
           "PERSONSEG_METRICS_PORT": str(metrics_port)}
    proc = subprocess.Popen([sys.executable, "-m", "personseg", "serve", "--host", "127.0.0.1"], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    url, metrics_url = f"http://127.0.0.1:{port}", f"http://127.0.0.1:{metrics_port}"
    try:
        _wait_ready(url, proc)
        assert httpx.post(f"{url}/v1/segment", content=encode(split_image())).status_code == 200
        r = httpx.get(f"{url}/metrics")
        assert r.status_code == 404 and "metrics have their own" in r.json()["error"]
        text = httpx.get(f"{metrics_url}/metrics").text
        assert 'personseg_requests_total{method="POST",route="/v1/segment",status="200"} 1.0' in text
        for path in ("/v2/health/ready", "/v1/segment"):
            assert httpx.post(f"{metrics_url}{path}", content=b"x").status_code == 404
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=30)


def _jpeg_roundtrip(image):
    import io

    from PIL import Image

    return Image.open(io.BytesIO(encode(image, "JPEG"))).convert("RGB")


def test_serve_exits_2_naming_a_model_that_does_not_exist(tmp_path):
    missing = tmp_path / "no-such-model"
    proc = subprocess.run([sys.executable, "-c", NO_TORCH, "serve", "--model", str(missing), "--port",
                           str(free_port())], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2
    assert f"personseg serve: error: model {missing}: no such directory" in proc.stderr


def test_serve_names_a_folder_that_is_not_a_model_before_starting(tiny_dataset):
    proc = subprocess.run([sys.executable, "-c", NO_TORCH, "serve", "--model", str(tiny_dataset), "--port",
                           str(free_port())], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2
    assert f"personseg serve: error: model {tiny_dataset}: no config.json; not a personseg saved model" in proc.stderr
    assert "Uvicorn running" not in proc.stderr and "Started server" not in proc.stderr


def test_serve_rejects_bad_settings_before_starting(monkeypatch, capsys, model):
    monkeypatch.setenv("PERSONSEG_MAX_BATCH", "lots")
    assert main(["serve", "--model", str(model)]) == 2
    assert "PERSONSEG_MAX_BATCH='lots'" in capsys.readouterr().err
    monkeypatch.delenv("PERSONSEG_MAX_BATCH")
    assert main(["serve", "--model", str(model), "--max-batch", "0"]) == 2
    assert "max_batch=0" in capsys.readouterr().err


def test_bench_serve_drives_the_real_server_and_times_the_bare_model(model, tmp_path, capsys):
    out = tmp_path / "bench.json"
    code = main(["bench", "serve", "--model", str(model), "--concurrency", "1,4", "--requests", "12",
                 "--threads", "1", "--bare-seconds", "0.2", "--json", str(out)])
    text = capsys.readouterr().out
    assert code == 0, text
    report = json.loads(out.read_text())
    assert [lv["concurrency"] for lv in report["levels"]] == [1, 4]
    assert [lv["round"] for lv in report["levels"]] == [0, 0] and len(report["bare_rounds"]) == 1
    assert all(lv["errors"] == 0 and lv["requests"] == 12 and lv["images_per_s"] > 0 for lv in report["levels"])
    assert all(0 < lv["p50_ms"] <= lv["p99_ms"] for lv in report["levels"])
    assert report["bare_batch8_images_per_s"] > 0
    assert report["ratios"]["4"] == pytest.approx(report["levels"][1]["images_per_s"]
                                                  / report["bare_batch8_images_per_s"])
    assert "bare model, same threads" in text and "batch 8:" in text and "p99 ms" in text
    # the server's counters: one image per call at concurrency 1, and batching x contention x busy is the ratio
    one, four = report["levels"]
    assert one["mean_batch"] == 1.0 and 1.0 <= four["mean_batch"] <= 4.0
    assert all(0 < lv["busy"] <= 1.0 and lv["model_images_per_s"] > 0 for lv in report["levels"])
    assert set(report["bare_by_batch"]) >= {"1", "8"}
    assert len(report["breakdown"]) == 2
    for parts in report["breakdown"]:
        product = parts["batching"] * parts["contention"] * parts["busy"]
        assert product == pytest.approx(report["ratios"][str(parts["concurrency"])])
    assert "contention" in text and "busy" in text and "concurrency 4: vs bare median" in text
    # where each request's time went: every stage, adding up to the client's latency with the part outside the app
    for level in report["levels"]:
        assert set(level["stages_ms"]) == set(STAGES)
        assert min(level["stages_ms"].values()) >= 0 and level["stages_ms"]["model"] > 0
        assert 0 < sum(level["stages_ms"].values()) <= level["app_mean_ms"] <= level["client_mean_ms"]
        assert level["outside_ms"] == pytest.approx(level["client_mean_ms"] - level["app_mean_ms"])
    assert "where a /v1/segment request's time went" in text and "batch_wait" in text
    # what it ran on, when, under which load, and the command that measures it again
    assert report["cpu"]["cores"] >= 1 and isinstance(report["cpu"]["flags"], list)
    assert report["date"].endswith("+00:00") and len(report["load"]) == 2
    assert report["command"].startswith("personseg bench serve --model ") and "--concurrency 1,4" in report["command"]
    assert f"command: {report['command']}" in text
    # CPU per request, and the concurrency-1 latency target's figure
    assert all(lv["client_cpu_ms"] > 0 and lv["server_cpu_ms"] > 0 for lv in report["levels"])
    # the server's CPU split among its event loop, worker pool and model threads: whole clock ticks, read just after
    # the process's own, so the parts add up to its total within a few ticks
    tick_ms = 1000.0 / os.sysconf("SC_CLK_TCK")
    for level in report["levels"]:
        assert set(level["server_threads_cpu_ms"]) == {"loop", "pool", "model"}
        slack = 4 * tick_ms / level["requests"]
        assert sum(level["server_threads_cpu_ms"].values()) == pytest.approx(level["server_cpu_ms"], abs=slack)
    assert "  loop   pool  model" in text
    assert all(set(cpu) == set(bare) and min(cpu.values()) > 0
               for cpu, bare in zip(report["bare_cpu_ms"], report["bare_rounds"]))
    assert len(report["p50_over_bare_batch1_ms"]["1"]) == 1 and "p50 over the bare batch-1 latency" in text


def test_bench_serve_rounds_alternate_load_and_bare_timing(model, tmp_path, capsys):
    out = tmp_path / "bench.json"
    code = main(["bench", "serve", "--model", str(model), "--concurrency", "2", "--requests", "6", "--threads", "1",
                 "--bare-seconds", "0.1", "--rounds", "3", "--json", str(out)])
    text = capsys.readouterr().out
    assert code == 0, text
    report = json.loads(out.read_text())
    assert [lv["round"] for lv in report["levels"]] == [0, 1, 2] and len(report["bare_rounds"]) == 3
    own = [lv["images_per_s"] / bare["8"] for lv, bare in zip(report["levels"], report["bare_rounds"])]
    assert report["round_ratios"]["2"] == pytest.approx(own)  # each round divides by its own reference
    assert report["ratios"]["2"] == pytest.approx(sorted(own)[1])  # the median
    assert report["bare_batch8_images_per_s"] == pytest.approx(sorted(r["8"] for r in report["bare_rounds"])[1])
    assert "over 3 round(s)" in text
    assert "speed flags: " in text and report["cpu"]["cores"] >= 1 and "flags" in report["cpu"]
    assert main(["bench", "serve", "--model", str(model), "--rounds", "0"]) == 2
    assert "--rounds 0: must be at least 1" in capsys.readouterr().err


def test_the_cli_offers_the_runners_the_local_run_knows() -> None:
    from personseg.commands.pipeline.run import RUNNERS as OFFERED
    from personseg_kfp.local.run import RUNNERS

    assert OFFERED == RUNNERS
