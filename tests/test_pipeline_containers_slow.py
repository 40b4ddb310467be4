"""The compiled pipeline run in its containers, through to a container deploy, on this machine's engine.

``personseg pipeline run --local --runner container`` on 16 synthetic 64 px images (width 8): every step
in the pipeline image built from this checkout, as user 1000, on Docker or podman; the models published to
a real S3 server (``weed mini``) on 127.0.0.1, reached from the containers over the host network; the winner
deployed with ``deploy_target=container`` from inside the deploy step's container; then a real request.
Three runs: bad data fails in check-data with the step's last lines and leaves no container; a run whose
train container is killed fails naming train and leaves no container; the same command again succeeds and
serves. Slow (both images are built); run by ``make test-images``.
"""

from __future__ import annotations

import ast
import re
import threading
import time
import urllib.request
from pathlib import Path

import numpy as np
import pytest
from containers_fixtures import run_to_exit
from images_fixtures import PIPELINE_LOCK
from pipeline_fixtures import TINY_PARAMS
from serving_fixtures import decode_png, encode, split_image
from serving_image_fixtures import images_built

from personseg import __version__
from personseg.cli import main
from personseg.containers.engine import connect
from personseg.deploy.container_spec import LABEL_DEPLOYMENT
from personseg.image_refs import pipeline_image
from personseg_kfp.local.containers import RUN_LABEL

storage_fixtures = pytest.importorskip("storage_fixtures", reason="tests/storage_fixtures.py (weed fixture) absent")
s3_server = storage_fixtures.s3_server
s3_env = storage_fixtures.s3_env

pytestmark = pytest.mark.slow
IMAGE_PYTHON = "/opt/venv/lib/python3.11/site-packages/personseg/"


@pytest.fixture(scope="module")
def step_images(tmp_path_factory: pytest.TempPathFactory):
    """The pipeline and serving images, where the engine ``connect`` finds runs them."""
    yield from images_built(tmp_path_factory, ("pipeline", "serving"))


PIPELINE_PROBE = """
import importlib.metadata as metadata, os
import docker, kfp, onnxruntime, openvino, personseg, torch
names = sorted(d.metadata["Name"].lower() for d in metadata.distributions())
print(os.getuid(), os.getgid(), torch.__version__, torch.version.cuda, kfp.__version__,
      onnxruntime.__version__, openvino.__version__, personseg.__version__)
print(" ".join(names))
print(sorted(os.listdir(os.environ["PERSONSEG_DATASETS"])))
"""


def _run_in(engine, image: str, entrypoint: list[str]) -> str:
    """Run ``entrypoint`` in ``image`` as the image's user; its output (it must succeed); the container removed."""
    code, output = run_to_exit(engine.client, image, None, 600, entrypoint=entrypoint, network_mode="none")
    assert code == 0, output.decode()[-3000:]
    return output.decode()


def test_pipeline_image_holds_the_locked_cpu_build_the_datasets_and_runs_as_1000(step_images) -> None:
    image = pipeline_image()
    with connect() as engine:
        config = engine.client.images.get(image).attrs["Config"]
        assert config["User"] == "1000:1000"
        assert config["Entrypoint"] == ["personseg"]
        assert config["Labels"]["org.opencontainers.image.version"] == __version__
        assert not any(key in env_var for env_var in config.get("Env") or [] for key in ("SECRET", "ACCESS_KEY"))
        facts, names, datasets = _run_in(engine, image, ["python", "-c", PIPELINE_PROBE]).strip().splitlines()[-3:]
        help_text = _run_in(engine, image, ["personseg", "--help"])
        size = engine.client.images.get(image).attrs["Size"]
    uid, gid, torch_version, cuda, *versions = facts.split()
    assert (uid, gid) == ("1000", "1000")
    assert torch_version.endswith("+cpu") and cuda == "None", facts
    assert versions[-1] == __version__
    installed = names.split()
    assert not [n for n in installed if n.startswith("nvidia-") or n == "triton"], installed
    locked = {line.split("==")[0].lower() for line in PIPELINE_LOCK.read_text().splitlines() if "==" in line}
    assert {n.replace("_", "-") for n in installed} - {"pip", "personseg"} <= {n.replace("_", "-") for n in locked}
    # the committed sets dataset_uri=demo, extra_train_uri=people, extra_eval_uri=real and backgrounds=scenes name
    assert {"demo", "people", "real", "scenes"} <= set(ast.literal_eval(datasets)), datasets
    assert help_text.startswith("usage: personseg") and "train" in help_text, help_text[:500]
    print(f"\npipeline image {image}: {size / 1e6:.0f} MB uncompressed; torch {torch_version} (no CUDA), kfp, "
          f"onnxruntime, openvino, docker import as {uid}:{gid}; {len(installed)} distributions, all in the lock")


def _argv(root: Path, params: dict) -> list[str]:
    argv = ["pipeline", "run", "--local", "--runner", "container", "--root", str(root)]
    for key, value in params.items():
        argv += ["--param", f"{key}={value}"]
    return argv


def _step_containers(engine) -> list[dict]:
    """Every container a containerized run started, running or not (they carry the run label).

    The engine's list without inspecting each: a step's container may go between the list and the inspect
    (podman 4.3 then answers 500).
    """
    return engine.client.api.containers(all=True, filters={"label": RUN_LABEL})


def _kill_when_running(engine, step: str, after: float, killed: list[str], stop: threading.Event) -> None:
    """SIGKILL ``step``'s container ``after`` seconds into its run (as the kernel's OOM killer would)."""
    while not stop.is_set():
        for summary in _step_containers(engine):
            if summary["Command"].endswith(f"--function_to_execute {step}") and summary["State"] == "running":
                time.sleep(after)
                engine.client.api.kill(summary["Id"])
                killed.append(summary["Names"][0].lstrip("/"))
                return
        time.sleep(0.2)


def test_containerized_run_fails_cleanly_then_deploys_a_served_model(step_images, s3_env, tmp_path: Path,
                                                                    monkeypatch: pytest.MonkeyPatch,
                                                                    capsys: pytest.CaptureFixture) -> None:
    state = tmp_path / "deploy"
    monkeypatch.setenv("PERSONSEG_DEPLOY_STATE", str(state))
    name = f"ctr-{storage_fixtures.unique_name()}"[:40]
    params = {**TINY_PARAMS, "epochs": 2, "model_name": name, "min_speedup": 0.01, "tolerable_iou_loss": 0.5}
    root = tmp_path / "runs"
    engine = connect()
    try:
        # 1. Bad data: check-data fails inside the image, a user's mistake said in one line; the log holds the
        #    step's traceback (the image's Python) and its container's exit; no container is left.
        assert main(_argv(root, {**params, "dataset_uri": "/no/such/dataset"})) == 1
        out = capsys.readouterr().out
        assert "The run failed in step check-data: dataset_uri '/no/such/dataset'" in out, out
        log = Path(re.search(r"Full log: (\S+)", out).group(1)).read_text()
        assert IMAGE_PYTHON in log, log[-3000:]
        assert re.search(r"step container \S+ \(\S+pipeline\S+\) ended with exit 1", log), log[-3000:]
        assert _step_containers(engine) == []

        # 2. The train step's container killed mid-run: the run fails naming train; no container is left.
        killed: list[str] = []
        stop = threading.Event()
        killer = threading.Thread(target=_kill_when_running, args=(engine, "train", 2.0, killed, stop), daemon=True)
        killer.start()
        try:
            assert main(_argv(root, params)) == 1
        finally:
            stop.set()
            killer.join(timeout=60)
        out = capsys.readouterr().out
        assert killed, "the train container was never seen running"
        assert "The run failed in step train" in out, out
        assert f"step container {killed[0]} " in out and "killed by SIGKILL" in out, out
        assert _step_containers(engine) == []

        # 3. The same command again: trains, passes the gate and deploys the winner as a container.
        assert main(_argv(root, params)) == 0
        out = capsys.readouterr().out
        run_dir = Path(re.search(r"outputs in (\S+)", out).group(1))
        ran = {p.name for p in run_dir.iterdir() if p.is_dir()}
        assert {"check-data", "ingest", "train", "swap", "quantize", "evaluate", "deploy"} <= ran, ran
        # every step wrote as the image's user, not as this test's (root): it ran in its container
        assert {(p.relative_to(run_dir).as_posix(), p.stat().st_uid) for p in run_dir.iterdir() if p.is_dir()} == \
            {(task, 1000) for task in ran}
        assert IMAGE_PYTHON in (run_dir / "pipeline.log").read_text()
        assert _step_containers(engine) == []

        served = engine.client.containers.list(filters={"label": f"{LABEL_DEPLOYMENT}={name}"})
        assert len(served) == 1, served
        assert served[0].attrs["Config"]["User"].split(":")[0] == "1000"
        url = re.search(r"http://127\.0\.0\.1:\d+", out).group(0)
        request = urllib.request.Request(f"{url}/v1/segment?output=mask", data=encode(split_image(96, 64), "PNG"),
                                         headers={"Content-Type": "image/png"}, method="POST")
        with urllib.request.urlopen(request, timeout=60) as answer:
            assert answer.status == 200 and answer.headers["content-type"] == "image/png"
            mask = np.asarray(decode_png(answer.read()))
        assert mask.shape == (64, 96) and set(np.unique(mask)) <= {0, 255}
    finally:
        main(["deploy", "--target", "container", "--stop", "--name", name, "--state-dir", str(state)])
        assert engine.client.containers.list(all=True, filters={"label": f"{LABEL_DEPLOYMENT}={name}"}) == []
        engine.close()
