"""The quiet local run's plumbing: output redirected at the descriptor level, and a real failing run.

The failing run is a real ``kfp.local`` run through the CLI whose first step (check_data) fails on a
dataset folder that does not exist; it fails before touching object storage, so the endpoint named
in the environment is never contacted.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from personseg.cli import main
from personseg.console.redirect import output_to_file, tail

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


def test_a_failing_run_prints_the_log_path_and_its_tail(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                          capsys: pytest.CaptureFixture) -> None:
    monkeypatch.setenv("MINIO_ENDPOINT", "127.0.0.1:9")  # set, so the CLI starts no S3 server; never reached
    missing = tmp_path / "no-such-dataset"
    code = main(["pipeline", "run", "--local", "--root", str(tmp_path / "runs"), "--param",
                 f"dataset_uri={missing}"])
    out = capsys.readouterr().out
    assert code == 1
    lines = out.splitlines()
    assert lines[0].startswith("Running the pipeline locally; full log: ")
    assert lines[1:3] == ["-> check-data", lines[2]] and lines[2].startswith("   check-data FAILED after ")
    assert lines[3] == ("The run failed in step check-data: Pipeline 'person-segmentation' finished with status "
                        "FAILURE. Inner task failed: 'check-data'.")
    log = Path(re.fullmatch(r"Full log: (\S+); its last 20 lines:", lines[4]).group(1))
    assert log.name == "pipeline.log" and log.parent.parent == tmp_path / "runs" and log.is_file()
    assert len(lines) == 5 + 20 and all(line.startswith("  | ") for line in lines[5:])
    assert f"UserError: dataset {missing}: no such directory" in out  # the step's own error, in the tail
    assert "Got executor_input" in log.read_text() and "Got executor_input" not in out
