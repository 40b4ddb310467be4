"""Helpers for the image tests: the Debian mirror apt uses, a debootstrap base, buildah in a private store."""

from __future__ import annotations

import json
import os
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CA_IN_BASE = "/etc/ssl/certs/ca-certificates.crt"
PATH_ENV = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


def _stanzas_deb822(text: str) -> list[dict[str, str]]:
    """Split a deb822 ``.sources`` file into stanzas of ``{field: value}`` (comments dropped)."""
    stanzas: list[dict[str, str]] = []
    for block in re.split(r"\n\s*\n", text):
        fields: dict[str, str] = {}
        for line in block.splitlines():
            if line.startswith("#") or ":" not in line or line[:1].isspace():
                continue
            key, value = line.split(":", 1)
            fields[key.strip().lower()] = value.strip()
        if fields:
            stanzas.append(fields)
    return stanzas


def debian_mirror(suite: str = "bookworm", etc_apt: Path = Path("/etc/apt")) -> str | None:
    """The first ``deb`` URI apt is configured to use for ``suite`` (main archive), or None.

    Read at run time so the test uses whatever mirror this machine's apt uses, and names none itself.
    Only ``sources.list``, ``*.list`` and ``*.sources`` count, as for apt (``*.disabled`` files do not).
    """
    files = [etc_apt / "sources.list"] + sorted((etc_apt / "sources.list.d").glob("*"))
    for path in files:
        if not path.is_file():
            continue
        text = path.read_text(errors="replace")
        if path.suffix == ".sources":
            for stanza in _stanzas_deb822(text):
                enabled = stanza.get("enabled", "yes").lower() != "no"
                if enabled and "deb" in stanza.get("types", "").split() and suite in stanza.get("suites", "").split():
                    uris = stanza.get("uris", "").split()
                    if uris:
                        return uris[0]
        elif path.suffix == ".list" or path.name == "sources.list":
            for line in text.splitlines():
                words = re.sub(r"\[[^]]*\]", " ", line.split("#")[0]).split()
                if len(words) >= 3 and words[0] == "deb" and words[2] == suite:
                    return words[1]
    return None


@dataclass
class Buildah:
    """buildah with its own store under ``root`` (vfs, or ``driver``): nothing touches the machine's image store."""

    root: Path
    driver: str = "vfs"

    @property
    def global_opts(self) -> list[str]:
        """The flags that select the private store."""
        return ["--root", str(self.root / "storage"), "--runroot", str(self.root / "run"), "--storage-driver",
                self.driver]

    def __call__(self, *args: str, timeout: float = 600) -> str:
        """Run ``buildah <args>`` and return stdout; fail the test with stderr when it fails."""
        done = subprocess.run(["buildah", *self.global_opts, *args], capture_output=True, text=True,
                              timeout=timeout)
        assert done.returncode == 0, f"buildah {' '.join(args)} failed ({done.returncode}):\n{done.stderr[-4000:]}"
        return done.stdout

    def inspect_image(self, image: str) -> dict:
        """``buildah inspect --type image`` as a dict."""
        return json.loads(self(*("inspect", "--type", "image", image)))


def debootstrap_base(rootfs: Path, tarball: Path, mirror: str, suite: str = "bookworm") -> Path:
    """A minimal Debian with python3, venv and pip, packed as a tarball (what `buildah add` imports)."""
    subprocess.run(
        ["debootstrap", "--variant=minbase", "--include=python3,python3-venv,python3-pip", suite, str(rootfs),
         mirror], check=True, capture_output=True, timeout=1800,
    )
    tmp = tarball.with_suffix(".part")
    subprocess.run(["tar", "-C", str(rootfs), "--numeric-owner", "-cf", str(tmp), "."], check=True, timeout=600)
    tmp.replace(tarball)
    return tarball


def base_tarball(tmp_path: Path) -> Path:
    """The debootstrap tarball, from ``PERSONSEG_IMAGES_CACHE`` when it holds one (made and kept there if not)."""
    import shutil

    cache = os.environ.get("PERSONSEG_IMAGES_CACHE")
    folder = Path(cache) if cache else tmp_path
    folder.mkdir(parents=True, exist_ok=True)
    tarball = folder / "debian-bookworm-python3.tar"
    if not tarball.is_file():
        rootfs = tmp_path / "rootfs"
        mirror = debian_mirror()
        assert mirror, "no Debian bookworm mirror configured for apt"
        debootstrap_base(rootfs, tarball, mirror)
        shutil.rmtree(rootfs)
    return tarball


def host_ca_bundle() -> Path | None:
    """The CA bundle pip on this machine trusts (``PIP_CERT``, else the system bundle), if any."""
    for candidate in (os.environ.get("PIP_CERT"), "/etc/ssl/certs/ca-certificates.crt"):
        if candidate and Path(candidate).is_file():
            return Path(candidate)
    return None


def import_base(buildah: Buildah, tarball: Path, image: str, ca_bundle: Path | None = None) -> None:
    """Turn a root filesystem tarball into a local image named ``image`` (no registry involved).

    ``ca_bundle`` goes into the base with ``PIP_CERT`` pointing at it, as a site's own base image
    carries the site's CAs: pip inside the build then trusts what pip on this machine trusts (a
    TLS-inspecting proxy, for one). The Dockerfile itself stays free of any site setting. A store that
    already holds ``image`` (one kept with ``PERSONSEG_IMAGES_STORE``) keeps it, so its layer cache still applies.
    """
    present = subprocess.run(["buildah", *buildah.global_opts, "inspect", "--type", "image", image],
                             capture_output=True)
    if present.returncode == 0:
        return
    container = buildah("from", "scratch").strip()
    try:
        buildah("add", container, str(tarball), "/")
        buildah("config", "--env", PATH_ENV, "--cmd", "/bin/bash", container)
        if ca_bundle is not None:
            buildah("copy", container, str(ca_bundle), CA_IN_BASE)
            buildah("config", "--env", f"PIP_CERT={CA_IN_BASE}", container)
        buildah("commit", "--quiet", container, image)
    finally:
        buildah("rm", container)


PIPELINE_LOCK = ROOT / "images" / "pipeline" / "requirements.lock"


def torch_wheels(folder: Path) -> Path:
    """A folder holding the torch wheel the pipeline lock names (skip when pip cannot get it here).

    ``PERSONSEG_TORCH_WHEELS=<dir>`` names one that has it; otherwise pip downloads the wheel into ``folder``
    with this machine's pip configuration.
    """
    import sys

    import pytest

    given = os.environ.get("PERSONSEG_TORCH_WHEELS")
    if given:
        return Path(given)
    (version,) = re.findall(r"^torch==(\S+)", PIPELINE_LOCK.read_text(), re.M)
    done = subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary", ":all:",
                           "-d", str(folder), f"torch=={version}"], capture_output=True, text=True, timeout=1800)
    if done.returncode != 0:
        pytest.skip(f"pip finds no torch=={version} wheel here (set PERSONSEG_TORCH_WHEELS): {done.stderr[-300:]}")
    return folder
