"""The images really build and run: buildah on a debootstrap'ed Debian base, then HTTP or the CLI.

Slow (several minutes each, mostly pip inside the build); run by ``make test-images``. Needs root,
``buildah`` and ``debootstrap`` (``apt-get install -y debootstrap buildah``) and the Debian mirror apt
already uses; no container registry is contacted: the base image is made here and imported.
``PERSONSEG_IMAGES_CACHE=<dir>`` keeps the debootstrap tarball between runs. The pipeline image takes
torch's CPU wheel from a folder (``PERSONSEG_TORCH_WHEELS=<dir>``, else what ``pip download`` finds with this
machine's pip configuration).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

import httpx
import numpy as np
import pytest
from images_fixtures import (
    ROOT,
    Buildah,
    base_tarball,
    debian_mirror,
    host_ca_bundle,
    import_base,
)
from serving_fixtures import (
    decode_png,
    encode,
    make_tiny_model,
    make_tiny_openvino_model,
    reference_probability,
    split_image,
)

from personseg import __version__
from personseg.image_refs import serving_image
from personseg.netutil import free_port

pytestmark = pytest.mark.slow

BASE = "localhost/personseg-base:bookworm"
MODEL_MOUNT = "/models/tiny"
IR_MOUNT = "/models/tiny-ir"


def _requirements() -> str | None:
    """Why this test cannot run here, or None."""
    missing = [tool for tool in ("buildah", "debootstrap") if shutil.which(tool) is None]
    if missing:
        return f"needs {' and '.join(missing)} (apt-get install -y debootstrap buildah)"
    if os.geteuid() != 0:
        return "needs root: debootstrap and buildah's chroot isolation run as root here"
    if debian_mirror() is None:
        return "no Debian bookworm mirror configured for apt in /etc/apt/sources.list*"
    return None


@pytest.fixture
def buildah(tmp_path: Path):
    """A private vfs image store, emptied and removed afterwards (skip when this machine cannot build)."""
    reason = _requirements()
    if reason:
        pytest.skip(reason)
    tool = Buildah(tmp_path / "buildah")
    yield tool
    subprocess.run(["buildah", *tool.global_opts, "rm", "--all"], capture_output=True, timeout=300)
    subprocess.run(["buildah", *tool.global_opts, "rmi", "--all", "--force"], capture_output=True, timeout=300)
    shutil.rmtree(tool.root, ignore_errors=True)


@contextlib.contextmanager
def _container_process(buildah: Buildah, image: str, args: list[str], log: Path, mounts: list[str]):
    """Run the image's entrypoint with ``args`` (as ``docker run IMAGE ARGS`` would); stop it afterwards."""
    config = buildah.inspect_image(image)["OCIv1"]["config"]
    container = buildah("from", "--pull=never", image).strip()
    command = ["buildah", *buildah.global_opts, "run", "--isolation", "chroot"]
    for mount in mounts:
        command += ["--volume", mount]
    command += [container, "--", *config["Entrypoint"], *args]
    with log.open("wb") as out:
        proc = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        yield proc, container
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=30)


def _wait_ready(url: str, proc: subprocess.Popen, log: Path, timeout: float = 180) -> None:
    """Poll readiness; fail with the container's log if it exits or never gets ready."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, f"container exited with {proc.returncode}:\n{log.read_text()[-4000:]}"
        with contextlib.suppress(httpx.TransportError):
            if httpx.get(f"{url}/v2/health/ready", timeout=2).status_code == 200:
                return
        time.sleep(0.2)
    raise AssertionError(f"{url} not ready after {timeout}s:\n{log.read_text()[-4000:]}")


def test_serving_image_builds_on_a_local_debian_base_and_serves_a_mounted_model(tmp_path: Path, buildah: Buildah):
    started = time.monotonic()
    import_base(buildah, base_tarball(tmp_path), BASE, host_ca_bundle())
    base_done = time.monotonic()

    env = {**os.environ, "ENGINE": "buildah", "BUILDAH_OPTS": " ".join(buildah.global_opts),
           "BUILDAH_LAYERS": "false", "PYTHON": shutil.which("python3") or "python3",
           "BUILD_ARGS": f"--build-arg BASE_IMAGE={BASE} --isolation chroot --pull=never"}
    env.pop("REGISTRY", None)
    env.pop("PERSONSEG_IMAGE_REGISTRY", None)
    build = subprocess.run([str(ROOT / "scripts/images.sh"), "build", "serving"], env=env, capture_output=True,
                           text=True, timeout=3600)
    assert build.returncode == 0, f"image build failed:\n{build.stdout[-3000:]}\n{build.stderr[-3000:]}"
    built = time.monotonic()

    image = serving_image()
    info = buildah.inspect_image(image)
    config = info["OCIv1"]["config"]
    labels = config["Labels"]
    assert labels["org.opencontainers.image.version"] == __version__
    assert labels["org.opencontainers.image.licenses"] == "Apache-2.0"
    assert labels["org.opencontainers.image.source"].startswith("https://")
    assert config["User"] == "1000:1000"
    assert config["Entrypoint"] == ["python", "-m", "personseg", "serve"]
    assert not any(key in env_var for env_var in config.get("Env", []) for key in ("SECRET", "ACCESS_KEY"))

    model = make_tiny_model(tmp_path / "model")
    model.chmod(0o755)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log = tmp_path / "server.log"
    with _container_process(buildah, image, ["--model", MODEL_MOUNT, "--host", "127.0.0.1", "--port", str(port)],
                            log, [f"{model}:{MODEL_MOUNT}:ro"]) as (proc, container):
        _wait_ready(url, proc, log)
        ready_at = time.monotonic()
        picture = split_image(100, 60)
        response = httpx.post(f"{url}/v1/segment?output=probability", content=encode(picture, "PNG"), timeout=30)
        assert response.status_code == 200, response.text
        assert response.headers["content-type"] == "image/png"
        mask = np.asarray(decode_png(response.content))
        assert mask.shape == (60, 100)
        # ONNX Runtime in the image may round the last bit differently from the host's: allow one level.
        assert np.abs(mask.astype(int) - reference_probability(picture).astype(int)).max() <= 1
        assert mask[:, :40].min() > 200 and mask[:, 60:].max() < 50

        no_torch = subprocess.run(["buildah", *buildah.global_opts, "run", "--isolation", "chroot", container, "--",
                                   "python", "-c", "import torch"], capture_output=True, text=True, timeout=120)
        assert no_torch.returncode != 0 and "No module named 'torch'" in no_torch.stderr, no_torch.stderr
        whoami = buildah("run", "--isolation", "chroot", container, "--", "python", "-c",
                         "import os; print(os.getuid(), os.getgid())")
        assert whoami.split() == ["1000", "1000"]

    # An OpenVINO IR model serves in the same image (OpenVINO is in the serve extra; torch still is not).
    ir_model = make_tiny_openvino_model(tmp_path / "ir")
    ir_model.chmod(0o755)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log = tmp_path / "server-ir.log"
    with _container_process(buildah, image, ["--model", IR_MOUNT, "--host", "127.0.0.1", "--port", str(port)],
                            log, [f"{ir_model}:{IR_MOUNT}:ro"]) as (proc, container):
        _wait_ready(url, proc, log)
        assert httpx.get(f"{url}/v2/models/personseg", timeout=10).json()["platform"] == "openvino_ir"
        picture = split_image(100, 60)
        response = httpx.post(f"{url}/v1/segment?output=probability", content=encode(picture, "PNG"), timeout=30)
        assert response.status_code == 200, response.text
        mask = np.asarray(decode_png(response.content))
        assert np.abs(mask.astype(int) - reference_probability(picture).astype(int)).max() <= 1
        probe = "import importlib.util as u; print([m for m in ('openvino', 'torch', 'nncf') if u.find_spec(m)])"
        modules = buildah("run", "--isolation", "chroot", container, "--", "python", "-c", probe)
        assert modules.strip() == "['openvino']", modules

    size = buildah("images", "--format", "{{.Size}}", image).strip()
    print(f"\nserving image {image}: {size}; base import {base_done - started:.0f}s, build {built - base_done:.0f}s, "
          f"ready in {ready_at - built:.0f}s; /v1/segment 200, mask matches (ONNX and OpenVINO IR); no torch; "
          "runs as 1000:1000")
