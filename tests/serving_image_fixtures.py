"""Images built from this checkout where a container engine can run them (the container deploy, the
containerized pipeline run).

With podman (no Docker engine answers) the image is built by buildah into a private overlay store, on a
debootstrap'ed Debian base (no registry involved), and ``PERSONSEG_PODMAN_OPTS`` points podman's service
at that store. ``PERSONSEG_IMAGES_STORE=<dir>`` keeps that store (and buildah's layer cache) between
runs; otherwise it is removed afterwards. With a Docker engine, ``scripts/images.sh`` builds with it
from the Dockerfile's default base, and the image is removed afterwards unless it was there before.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
from pathlib import Path

import pytest
from containers_fixtures import engine_unavailable
from images_fixtures import ROOT, Buildah, base_tarball, debian_mirror, host_ca_bundle, import_base, torch_wheels

from personseg.containers.engine import PODMAN_OPTS_ENV, connect
from personseg.image_refs import image_ref

BASE = "localhost/personseg-base:bookworm"


def _build_requirements(kind: str) -> str | None:
    if kind == "docker":
        return None
    missing = [tool for tool in ("buildah", "debootstrap") if shutil.which(tool) is None]
    if missing:
        return f"needs {' and '.join(missing)} to build the serving image for podman"
    if debian_mirror() is None:
        return "no Debian bookworm mirror configured for apt in /etc/apt/sources.list*"
    return None


def _images_sh(env: dict[str, str], components: tuple[str, ...]) -> None:
    build = subprocess.run([str(ROOT / "scripts/images.sh"), "build", *components], env=env, capture_output=True,
                           text=True, timeout=3600)
    assert build.returncode == 0, f"image build failed:\n{build.stdout[-3000:]}\n{build.stderr[-3000:]}"


@pytest.fixture(scope="module")
def serving_image_built(tmp_path_factory: pytest.TempPathFactory):
    """The serving image's reference, runnable by the engine ``personseg.containers.engine.connect`` finds."""
    yield from images_built(tmp_path_factory, ("serving",))


def images_built(tmp_path_factory: pytest.TempPathFactory, components: tuple[str, ...]):
    """Build ``components`` (serving, pipeline) where the engine runs them; yield the first one's reference.

    The pipeline image takes torch's CPU wheel from ``PERSONSEG_TORCH_WHEELS`` or what pip downloads here.
    """
    reason = engine_unavailable()
    if reason:
        pytest.skip(reason)
    image = image_ref(components[0])
    env = {k: v for k, v in os.environ.items() if k not in ("REGISTRY", "PERSONSEG_IMAGE_REGISTRY")}
    env["PYTHON"] = shutil.which("python3") or "python3"
    if "pipeline" in components:
        env["TORCH_WHEELS"] = str(torch_wheels(tmp_path_factory.mktemp("torch-wheels")))
    with connect() as probe:
        kind = probe.kind
        had = {c: bool(probe.client.images.list(name=image_ref(c))) for c in components}
    reason = _build_requirements(kind)
    if reason:
        pytest.skip(reason)
    with pytest.MonkeyPatch.context() as patch:
        if kind == "docker":
            _images_sh({**env, "ENGINE": "docker"}, components)
            yield image
            with connect() as engine:
                for component in components:
                    if not had[component]:
                        with contextlib.suppress(Exception):
                            engine.client.images.remove(image_ref(component), force=True)
            return
        kept = os.environ.get("PERSONSEG_IMAGES_STORE")
        store = Path(kept) if kept else tmp_path_factory.mktemp("image-store")
        buildah = Buildah(store, driver="overlay")  # containers start without copying the image
        import_base(buildah, base_tarball(tmp_path_factory.mktemp("base")), BASE, host_ca_bundle())
        _images_sh({**env, "ENGINE": "buildah", "BUILDAH_OPTS": " ".join(buildah.global_opts),
                    "BUILDAH_LAYERS": "true" if kept else "false",
                    "BUILD_ARGS": f"--build-arg BASE_IMAGE={BASE} --isolation chroot --pull=never"}, components)
        patch.setenv(PODMAN_OPTS_ENV, " ".join(buildah.global_opts))
        yield image
        if not kept:
            subprocess.run(["podman", *buildah.global_opts, "rm", "--all", "--force"], capture_output=True,
                           timeout=300)
            subprocess.run(["buildah", *buildah.global_opts, "rmi", "--all", "--force"], capture_output=True,
                           timeout=300)
            shutil.rmtree(store, ignore_errors=True)
