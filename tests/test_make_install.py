"""``make install`` with and without ``TORCH_INDEX_URL``: the pip command it runs, and what pip picks with it.

The pip check runs real pip offline on two throwaway file indexes, each offering a tiny stand-in wheel
named like torch's: the "default" index ``torch-2.13.0`` (the CUDA build on Linux), PyTorch's CPU wheel
index ``torch-2.13.0+cpu``. What it does not show: the real wheels' sizes and the nvidia-* dependencies
the default index's build pulls in (README "Installing" gives those).
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


def _pip_line(*make_args: str, env: dict[str, str] | None = None) -> str:
    """The ``pip install ... -e`` line ``make install`` would run (-B: even when .venv is up to date)."""
    out = subprocess.run(["make", "-n", "-B", "install", *make_args], cwd=ROOT, capture_output=True, text=True,
                         check=True, env=env).stdout
    (line,) = [x for x in out.splitlines() if " install " in x and " -e " in x]
    return line


def test_unset_the_install_command_is_unchanged() -> None:
    assert _pip_line() == UNCHANGED
    assert _pip_line("TORCH_INDEX_URL=") == UNCHANGED


def test_set_it_is_an_extra_index_for_pip() -> None:
    url = "file:///srv/torch-cpu/simple"
    assert _pip_line(f"TORCH_INDEX_URL={url}") == f".venv/bin/pip install -q --extra-index-url {url} -e '.[all,dev]'"
    assert f"--extra-index-url {url} " in _pip_line(env={**os.environ, "TORCH_INDEX_URL": url})  # or the environment


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


@pytest.mark.parametrize(("torch_index", "expected"), [(False, "torch-2.13.0-py3"), (True, "torch-2.13.0+cpu-py3")])
def test_pip_takes_the_cpu_build_from_the_extra_index(tmp_path: Path, torch_index: bool, expected: str) -> None:
    default, cpu = tmp_path / "default", tmp_path / "cpu"
    _wheel(default, "2.13.0")
    _wheel(cpu, "2.13.0+cpu")
    words = shlex.split(_pip_line(f"TORCH_INDEX_URL={cpu.as_uri()}" if torch_index else "TORCH_INDEX_URL="))
    flags = words[words.index("-q") + 1:words.index("-e")]
    # no pip config files and no PIP_* variables: this machine's find-links hold a real torch wheel
    env = {k: v for k, v in os.environ.items() if not k.startswith("PIP_")} | {"PIP_CONFIG_FILE": os.devnull}
    done = subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "-q", "--index-url", default.as_uri(),
                           *flags, "-d", str(tmp_path / "got"), "torch==2.13.0"],
                          capture_output=True, text=True, timeout=120, env=env)
    assert done.returncode == 0, done.stderr
    assert [p.name for p in (tmp_path / "got").iterdir()] == [f"{expected}-none-any.whl"]
