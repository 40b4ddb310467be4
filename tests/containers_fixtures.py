"""Helpers for tests that run real containers: the engine (Docker, else podman) and a tiny local image."""

from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
import tarfile
from pathlib import Path

import pytest

from personseg.containers.exits import wait_for_exit

TINY_IMAGE = "localhost/personseg-test-tiny:1"


def engine_unavailable() -> str | None:
    """Why no container engine can run here, or None (Docker answers, or podman can start as root)."""
    if os.environ.get("DOCKER_HOST") or Path("/var/run/docker.sock").exists():
        return None
    if shutil.which("podman") is None or shutil.which("runc") is None:
        return "needs a Docker engine or podman + runc (apt-get install -y podman runc)"
    if os.geteuid() != 0:
        return "needs root for podman's rootful service on this machine"
    return None


def _libraries(binary: str) -> list[str]:
    """The shared libraries ``binary`` loads, from ldd (the loader included)."""
    out = subprocess.run(["ldd", binary], capture_output=True, text=True, check=True).stdout
    found = []
    for line in out.splitlines():
        words = line.split()
        path = words[2] if "=>" in words and len(words) > 2 else words[0]
        if path.startswith("/"):
            found.append(path)
    return found


def tiny_image_tarball(binaries: tuple[str, ...] = ("sh", "id", "sleep", "cat")) -> bytes:
    """A root filesystem of a few of this machine's binaries and their libraries: an image without a registry."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        added: set[str] = set()
        for name in binaries:
            binary = shutil.which(name)
            assert binary, f"{name} not found"
            for path in [binary, *_libraries(binary)]:
                real = os.path.realpath(path)
                for target in {path, f"/bin/{name}"} if path == binary else {path}:
                    if target not in added:
                        added.add(target)
                        tar.add(real, arcname=target.lstrip("/"))
        for folder in ("tmp", "etc"):
            info = tarfile.TarInfo(folder)
            info.type, info.mode = tarfile.DIRTYPE, 0o1777
            tar.addfile(info)
    return buffer.getvalue()


def import_tiny_image(client, ref: str = TINY_IMAGE) -> str:
    """Import ``tiny_image_tarball()`` as ``ref``; returns the image id.

    Tagged after the import: podman 4.3's compatibility API ignores the import's ``tag`` (it names the image
    ``:latest``), while Docker honours it; tagging afterwards gives the same name on both.
    """
    repository, tag = ref.rsplit(":", 1)
    answer = client.api.import_image_from_data(tiny_image_tarball(), repository=repository, tag=tag)
    image_id = json.loads(answer.strip().splitlines()[-1])["status"]
    client.images.get(image_id).tag(repository, tag)
    return image_id


def run_to_exit(client, image: str, command: list[str] | None, timeout: float, **options) -> tuple[int, bytes]:
    """Run ``command`` in ``image`` to its end; its exit code and output; the container removed.

    What ``client.containers.run(image, command, remove=True)`` does, without the docker SDK's unbounded
    ``/wait`` (``personseg.containers.exits``); ``command`` None keeps the image's.
    """
    container = client.containers.run(image, command, detach=True, **options)
    try:
        code = wait_for_exit(container, timeout)
        return code, container.logs(stdout=True, stderr=True)
    finally:
        container.remove(force=True)


@pytest.fixture(scope="module")
def engine(tmp_path_factory: pytest.TempPathFactory):
    """An open engine (skip when this machine has none); podman's service is stopped afterwards."""
    reason = engine_unavailable()
    if reason:
        pytest.skip(reason)
    from personseg.containers.engine import connect

    opened = connect(tmp_path_factory.mktemp("engine"))
    yield opened
    opened.close()
