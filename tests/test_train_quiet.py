"""``personseg train`` without a terminal prints one line per epoch and a final line, nothing else.

The real CLI in a subprocess (stdout and stderr are pipes, so no progress line either) on the tiny
dataset fixture, width 8, 64 px, 2 epochs.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from conftest import TINY_SIZE, TINY_WIDTH
from pipeline_fixtures import ROOT

from personseg.console.progress import PROGRESS_FILE_ENV

EPOCH = re.compile(r"epoch (\d+)/2  loss \d+\.\d{4}  val IoU \d\.\d{4}  \d+\.\ds")


def test_train_prints_one_line_per_epoch_and_a_final_line(tiny_dataset: Path, tmp_path: Path) -> None:
    out = tmp_path / "model"
    env = {k: v for k, v in os.environ.items() if k != PROGRESS_FILE_ENV}
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    proc = subprocess.run([sys.executable, "-m", "personseg", "train", "--data", str(tiny_dataset), "--width",
                           str(TINY_WIDTH), "--size", str(TINY_SIZE), "--epochs", "2", "--threads", "2", "--workers",
                           "0", "--out", str(out)], capture_output=True, text=True, env=env, timeout=900)
    assert proc.returncode == 0, proc.stderr
    epochs = proc.stderr.splitlines()
    assert [m.group(1) if (m := EPOCH.fullmatch(line)) else line for line in epochs] == ["1", "2"]
    assert re.fullmatch(rf"{re.escape(str(out))}: best val IoU \d\.\d{{4}} at epoch [12]\n", proc.stdout)
    assert "\r" not in proc.stderr  # no progress line without a terminal
