"""The quiet local run's plumbing: output redirected at the descriptor level, and a real failing run.

The failing run is a real ``kfp.local`` run through the CLI whose first step (check_data) fails on a
dataset folder that does not exist; it fails before touching object storage, so the endpoint named
in the environment is never contacted.
"""

from __future__ import annotations

import io
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from personseg.cli import main
from personseg_kfp.local.redirect import output_to_file, tail

CHILD = "import sys; print('child-out', flush=True); print('child-err', file=sys.stderr, flush=True)"


def test_everything_printed_goes_to_the_log_but_the_console(tmp_path: Path, capfd: pytest.CaptureFixture) -> None:
    log = tmp_path / "run.log"
    with output_to_file(log) as console:
        print('{"outputFile": "/x/executor_output.json"}')
        print("py-err", file=sys.stderr)
        os.write(1, b"fd-out\n")
        subprocess.run([sys.executable, "-c", CHILD], check=True)  # inherits descriptors 1 and 2
        console.write("for a person\n")
    print("after")
    out, err = capfd.readouterr()
    assert out == "for a person\nafter\n" and err == ""
    assert log.read_text().split() == ['{"outputFile":', '"/x/executor_output.json"}', "py-err", "fd-out",
                                       "child-out", "child-err"]


def test_descriptors_are_restored_when_the_run_raises(tmp_path: Path, capfd: pytest.CaptureFixture) -> None:
    with pytest.raises(RuntimeError, match="boom"), output_to_file(tmp_path / "run.log"):
        print("inside")
        raise RuntimeError("boom")
    os.write(1, b"visible\n")
    print("also visible", file=sys.stderr)
    out, err = capfd.readouterr()
    assert out == "visible\n" and err == "also visible\n"
    assert (tmp_path / "run.log").read_text() == "inside\n"


def test_tail_keeps_the_last_lines_without_colour(tmp_path: Path) -> None:
    log = tmp_path / "x.log"
    log.write_text("".join(f"line {i}\n\n" for i in range(30)) + "\x1b[91mFAILURE\x1b[0m\n")
    assert tail(log, 3) == ["line 28", "line 29", "FAILURE"]


def test_a_failing_run_prints_the_steps_reason_and_the_log_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                                 capsys: pytest.CaptureFixture) -> None:
    """A user's mistake: the headline is the step's own one-line reason; the traceback stays in the log."""
    monkeypatch.setenv("MINIO_ENDPOINT", "127.0.0.1:9")  # set, so the CLI starts no S3 server; never reached
    missing = tmp_path / "no-such-dataset"
    code = main(["pipeline", "run", "--local", "--root", str(tmp_path / "runs"), "--param",
                 f"dataset_uri={missing}"])
    out = capsys.readouterr().out
    assert code == 1
    lines = out.splitlines()
    assert lines[0].startswith("Running the pipeline locally; full log: ")
    assert lines[1:3] == ["-> check-data", lines[2]] and lines[2].startswith("   check-data FAILED after ")
    assert lines[3] == (f"The run failed in step check-data: dataset_uri '{missing}': dataset {missing}: "
                        "no such directory")
    log = Path(re.fullmatch(r"Full log: (\S+)", lines[4]).group(1))
    assert log.name == "pipeline.log" and log.parent.parent == tmp_path / "runs" and log.is_file()
    assert len(lines) == 5 and "Traceback" in log.read_text()
    assert "Got executor_input" in log.read_text() and "Got executor_input" not in out


def test_a_bug_shows_its_class_and_the_logs_tail(tmp_path: Path) -> None:
    """Not a user's mistake: the exception's class leads the headline and the log's last lines follow."""
    from personseg_kfp.local.console import RunConsole
    from personseg_kfp.local.redirect import raised
    from personseg_kfp.local.watch import StepEvent

    log = tmp_path / "pipeline.log"
    log.write_text("Traceback (most recent call last):\n  File \"x.py\", line 1, in f\n"
                   "    personseg.errors.UserError: an earlier, handled mistake\n"
                   "Traceback (most recent call last):\n  File \"y.py\", line 2, in g\n"
                   "    \x1b[91mKeyError: 'width'\x1b[0m\nERROR - Task 'train' finished with status FAILURE\n")
    assert raised(log) == ("KeyError", "'width'")
    out = io.StringIO()
    console = RunConsole(out)
    console.event(StepEvent("train", "failed", 3.0))
    console.failure(log, tail(log, 2), RuntimeError("Inner task failed: 'train'"), raised(log))
    lines = out.getvalue().splitlines()
    assert lines[1:] == ["The run failed in step train: KeyError: 'width'", f"Full log: {log}; its last 2 lines:",
                         "  |     KeyError: 'width'", "  | ERROR - Task 'train' finished with status FAILURE"]
