"""Progress lines inside long steps: a rewritten line on a terminal, a file under the quiet pipeline, else nothing.

Also the third-party noise filter: INC's log lines and Python warnings are dropped without ``-v``
and shown with it (checked in a fresh interpreter: both change process-wide logging state).
"""

from __future__ import annotations

import io
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from conftest import TINY_SIZE, TINY_WIDTH
from pipeline_fixtures import ROOT

from personseg.console import progress as progress_mod
from personseg.console.progress import PROGRESS_FILE_ENV, clear, progress, read_progress


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_nothing_is_shown_off_a_terminal(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture) -> None:
    monkeypatch.delenv(PROGRESS_FILE_ENV, raising=False)
    progress("epoch", 1, 3, "batch 2")
    clear()
    assert capsys.readouterr() == ("", "")


def test_a_terminal_gets_one_rewritten_line(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(PROGRESS_FILE_ENV, raising=False)
    term = _Terminal()
    monkeypatch.setattr(progress_mod.sys, "stderr", term)
    progress("epoch", 1, 3, "batch 2")
    progress("epoch", 1, 3, "batch 3")
    clear()
    assert term.getvalue() == "\repoch 1/3  batch 2\x1b[K\repoch 1/3  batch 3\x1b[K\r\x1b[K"


def test_under_the_quiet_pipeline_the_latest_line_is_in_the_file(tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "run.progress"
    assert read_progress(path) == ""
    monkeypatch.setenv(PROGRESS_FILE_ENV, str(path))
    term = _Terminal()
    monkeypatch.setattr(progress_mod.sys, "stderr", term)
    progress("timing round", 2, 10, "7 models")
    progress("timing round", 3, 10, "7 models")
    clear()
    assert read_progress(path) == "timing round 3/10  7 models" and term.getvalue() == ""
    assert [p.name for p in tmp_path.iterdir()] == ["run.progress"]  # no temporary file left behind


def test_the_training_loop_reports_its_batches(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from personseg.data.prescan import prescan
    from personseg.data.synthetic import write_synthetic
    from personseg.models import build_model
    from personseg.training.loop import FitConfig, fit

    data = prescan(write_synthetic(tmp_path / "syn", count=6, size=TINY_SIZE, seed=3), TINY_SIZE)
    monkeypatch.setenv(PROGRESS_FILE_ENV, str(tmp_path / "p"))
    torch.manual_seed(0)
    fit(build_model("unet", decoder="bilinear", width=TINY_WIDTH), data, data, FitConfig(epochs=1, batch_size=2))
    assert read_progress(tmp_path / "p").startswith("epoch 1/1  batch 3/3  loss ")


NOISY = """
import logging, sys, warnings
from personseg.console.noise import quiet_third_party
logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stderr)
quiet_third_party(verbose=sys.argv[1] == "-v")
from onnx_neural_compressor import logger  # resets its logger's handlers and level, as at a real import
logging.getLogger("onnx_neural_compressor").info("Tuning started.")
logging.getLogger("onnx_neural_compressor").error("Failed to serialize the config to JSON string")
warnings.warn("the TorchScript-based ONNX export is deprecated", DeprecationWarning, stacklevel=1)
logging.getLogger("personseg.quantize").error("personseg: our own error")
"""


@pytest.mark.parametrize("verbose", [False, True])
def test_third_party_chatter_only_with_verbose(verbose: bool) -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "PYTHONWARNINGS": "always"}
    err = subprocess.run([sys.executable, "-c", NOISY, "-v" if verbose else "-q"], capture_output=True, text=True,
                         env=env, check=True, timeout=120).stderr
    assert "personseg: our own error" in err  # ours, always
    for chatter in ("Tuning started.", "Failed to serialize", "TorchScript-based ONNX export is deprecated"):
        assert (chatter in err) is verbose, err
