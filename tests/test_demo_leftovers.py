"""What a demo leaves behind: a server the printed command stops from any folder, and a second run that says so.

A real local deployment (a ``personseg serve`` process on 127.0.0.1); the stop command is taken from
the lines the pipeline run prints and run by a shell in another folder, with a PATH that does not
find personseg (``make demo`` never activates the virtualenv).
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest
from deploy_fixtures import tiny_onnx_model

from personseg.deploy.config import DeployConfig
from personseg.deploy.local import STATE_DIR_ENV, stop_local
from personseg.deploy.step import run
from personseg_kfp.local.console import where_to_look

ROOT = Path(__file__).resolve().parents[1]


def _alive(pid: int) -> bool:
    stat = Path(f"/proc/{pid}/stat")
    return stat.exists() and not stat.read_text().split(") ")[-1].startswith("Z")


def _shell(command: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != STATE_DIR_ENV}
    env["PATH"] = "/usr/bin:/bin"  # no virtualenv: a bare `personseg` is not found
    return subprocess.run(["bash", "-c", command], cwd=cwd, env=env, capture_output=True, text=True, timeout=120)


def test_the_printed_stop_command_works_from_another_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    checkout, elsewhere = tmp_path / "checkout", tmp_path / "elsewhere"
    checkout.mkdir()
    elsewhere.mkdir()
    monkeypatch.chdir(checkout)  # the demo deploys with the default state folder, runs/deploy, from here
    monkeypatch.delenv(STATE_DIR_ENV, raising=False)
    model = tiny_onnx_model(tmp_path / "model")
    result = run(DeployConfig(model=str(model), target="local", timeout=60))
    try:
        # the run that deployed: its last line is the stop command
        run_dir = tmp_path / "run"
        (run_dir / "evaluate").mkdir(parents=True)
        (run_dir / "deploy").mkdir()
        (run_dir / "deploy" / "result").write_text(json.dumps(result.to_dict()))
        (run_dir / "evaluate" / "report").write_text("report")
        last = where_to_look(run_dir, run_dir / "evaluate" / "report", None)[-1]
        assert last.startswith("Stop the server with: ") and " --model " not in last
        stop = last.removeprefix("Stop the server with: ")

        # a second run with nothing new to train says the first one's server still answers, and how to retrain
        again = tmp_path / "again"
        (again / "check-data").mkdir(parents=True)
        (again / "check-data" / "report").write_text("report")
        lines = where_to_look(again, again / "check-data" / "report", None)
        assert f"Still serving {model} at {result.endpoint} (deployed earlier); stop it with: {stop}" in lines
        assert lines[-1] == "To train anyway: make demo FORCE=1, or personseg pipeline run --local " \
                            "--param force_retrain=true"

        done = _shell(stop, elsewhere)
        assert done.returncode == 0, done.stderr
        assert done.stdout == f"stopped personseg: pid {result.pid} serving {model} at {result.endpoint}\n"
        assert not _alive(result.pid)

        twice = _shell(stop, elsewhere)  # nothing runs any more: said, with the folder it looked in
        assert twice.returncode == 2 and twice.stdout == ""
        assert twice.stderr == f"personseg deploy: error: no local deployment 'personseg' is running from " \
                               f"{checkout / 'runs' / 'deploy'} (no live server recorded in local-personseg.json); " \
                               "give --state-dir the folder it was deployed from\n"
    finally:
        stop_local(checkout / "runs" / "deploy", "personseg")


def _fake_checkout(tmp_path: Path) -> Path:
    """scripts/demo.sh in a checkout whose .venv/bin/personseg only prints its arguments."""
    checkout = tmp_path / "checkout"
    (checkout / "scripts").mkdir(parents=True)
    (checkout / "scripts" / "demo.sh").write_text((ROOT / "scripts" / "demo.sh").read_text())
    fake = checkout / ".venv" / "bin" / "personseg"
    fake.parent.mkdir(parents=True)
    fake.write_text('#!/bin/sh\nfor a in "$@"; do echo "$a"; done\n')
    fake.chmod(0o755)
    return checkout


@pytest.mark.parametrize(("force", "extra"), [("", []), ("0", []), ("1", ["--param", "force_retrain=true"])])
def test_make_demo_force_retrains(force: str, extra: list[str], tmp_path: Path) -> None:
    checkout = _fake_checkout(tmp_path)
    done = subprocess.run(["bash", str(checkout / "scripts" / "demo.sh"), "runs/demo"], capture_output=True,
                          text=True, env={**os.environ, "FORCE": force}, timeout=30)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split("\n")[:-1] == ["pipeline", "run", "--local", "--root", "runs/demo", *extra]
    recipe = (ROOT / "Makefile").read_text().split("\ndemo:", 1)[1].split("\n\n", 1)[0]
    assert "FORCE='$(FORCE)' bash scripts/demo.sh" in recipe  # make passes FORCE=1 on to the script
