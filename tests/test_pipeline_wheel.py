"""``pip install personseg[pipeline]`` gives working ``personseg pipeline`` commands, no checkout needed.

The wheel is built from this checkout and installed without dependencies into a fresh venv outside
it; the dependencies (kfp and the rest) come from the project's own environment through a path file,
so the test needs no package index. Asserted: personseg and personseg_kfp import from the wheel, and
``personseg pipeline compile`` run in an empty folder writes exactly the committed YAML.
"""

from __future__ import annotations

import os
import subprocess
import sys
import sysconfig
import venv
from pathlib import Path

from pipeline_fixtures import ROOT


def _run(argv: list[str], cwd: Path) -> str:
    # without PYTHONPATH: a checkout on it would be imported instead of the installed wheel under test
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    done = subprocess.run(argv, cwd=cwd, capture_output=True, text=True, timeout=300, env=env)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def test_installed_wheel_compiles_the_committed_pipeline(tmp_path: Path) -> None:
    wheels = tmp_path / "wheels"
    _run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(wheels),
          str(ROOT)], tmp_path)
    (wheel,) = wheels.glob("personseg-*.whl")
    env_dir = tmp_path / "venv"
    venv.create(env_dir, with_pip=False)
    python = env_dir / "bin" / "python"
    site = Path(_run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                     tmp_path).strip())
    _run([sys.executable, "-m", "pip", "--python", str(python), "install", "--no-deps", "-q", str(wheel)], tmp_path)
    (site / "zz-personseg-deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")

    work = tmp_path / "elsewhere"
    work.mkdir()
    where = _run([str(python), "-c", "import personseg, personseg_kfp; print(personseg.__file__); "
                  "print(personseg_kfp.__file__)"], work)
    assert all(line.startswith(str(site)) for line in where.split()), where
    _run([str(env_dir / "bin" / "personseg"), "pipeline", "compile", "-o", "out.yaml"], work)
    assert (work / "out.yaml").read_text() == (ROOT / "pipelines" / "person_segmentation.yaml").read_text()
    _run([str(env_dir / "bin" / "personseg"), "pipeline", "compile"], work)  # no checkout: ./person_segmentation.yaml
    assert (work / "person_segmentation.yaml").is_file()
