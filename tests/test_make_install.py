"""``make install`` with and without ``TORCH_INDEX_URL``: the pip command it runs, and what pip picks with it.

The pip check runs real pip offline on two throwaway file indexes, each offering a tiny stand-in wheel
named like torch's: the "default" index ``torch-2.13.0`` (the CUDA build on Linux), PyTorch's CPU wheel
index ``torch-2.13.0+cpu``. What it does not show: the real wheels' sizes and the nvidia-* dependencies
the default index's build pulls in (the README's "Install" section gives those).
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
UNCHANGED = ".venv/bin/pip install -q -e '.[all,dev]'"  # what CI has always run
pytestmark = pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed")


def _pip_lines(*make_args: str, env: dict[str, str] | None = None) -> list[str]:
    """The ``pip install`` lines ``make install`` would run after upgrading pip (-B: even when .venv is up to date)."""
    out = subprocess.run(["make", "-n", "-B", "install", *make_args], cwd=ROOT, capture_output=True, text=True,
                         check=True, env=env).stdout
    return [x for x in out.splitlines() if " install " in x and "--upgrade pip" not in x]


def test_unset_the_install_command_is_unchanged() -> None:
    assert _pip_lines() == [UNCHANGED]
    assert _pip_lines("TORCH_INDEX_URL=") == [UNCHANGED]


def test_set_torch_comes_from_that_index_alone_before_the_project() -> None:
    url = "file:///srv/torch-cpu/simple"
    torch_line = f".venv/bin/pip install -q --index-url {url} torch==2.13.0"
    assert _pip_lines(f"TORCH_INDEX_URL={url}") == [torch_line, UNCHANGED]
    assert _pip_lines(env={**os.environ, "TORCH_INDEX_URL": url})[0] == torch_line  # or the environment


def _wheel(index: Path, version: str) -> None:
    """A minimal valid wheel named torch-``version`` in ``index``/torch/ (a PEP 503 file index)."""
    folder = index / "torch"
    folder.mkdir(parents=True)
    info = f"torch-{version}.dist-info"
    with zipfile.ZipFile(folder / f"torch-{version}-py3-none-any.whl", "w") as whl:
        whl.writestr(f"{info}/METADATA", f"Metadata-Version: 2.1\nName: torch\nVersion: {version}\n")
        whl.writestr(f"{info}/WHEEL", "Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: py3-none-any\n")
        whl.writestr(f"{info}/RECORD", "")
    name = f"torch-{version}-py3-none-any.whl"
    (folder / "index.html").write_text(f'<html><body><a href="{name}">{name}</a></body></html>')  # pip reads it


def test_pip_takes_the_cpu_build_from_the_torch_index_even_when_another_index_outranks_it(tmp_path: Path) -> None:
    # The default index (PIP_INDEX_URL, as a user's pip configuration sets it) offers a build that sorts
    # above the CPU one; with --extra-index-url pip would take it, with --index-url it never looks there.
    default, cpu = tmp_path / "default", tmp_path / "cpu"
    _wheel(default, "2.13.0+cpu.1")
    _wheel(cpu, "2.13.0+cpu")
    words = shlex.split(_pip_lines(f"TORCH_INDEX_URL={cpu.as_uri()}")[0])
    flags = words[words.index("-q") + 1:words.index("torch==2.13.0")]
    # no pip config files: this machine's find-links hold a real torch wheel
    env = {k: v for k, v in os.environ.items() if not k.startswith("PIP_")} | {
        "PIP_CONFIG_FILE": os.devnull, "PIP_INDEX_URL": default.as_uri()}
    done = subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "-q", *flags,
                           "-d", str(tmp_path / "got"), "torch==2.13.0"],
                          capture_output=True, text=True, timeout=120, env=env)
    assert done.returncode == 0, done.stderr
    assert [p.name for p in (tmp_path / "got").iterdir()] == ["torch-2.13.0+cpu-py3-none-any.whl"]
    mixed = subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "-q", "--extra-index-url",
                            cpu.as_uri(), "-d", str(tmp_path / "mixed"), "torch==2.13.0"],
                           capture_output=True, text=True, timeout=120, env=env)
    assert mixed.returncode == 0, mixed.stderr
    assert [p.name for p in (tmp_path / "mixed").iterdir()] == ["torch-2.13.0+cpu.1-py3-none-any.whl"], \
        "the hazard --index-url avoids: an extra index competes on version"
