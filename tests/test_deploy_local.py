"""The local target for real: `python -m personseg serve` processes on 127.0.0.1 ports.

Deploy a tiny ONNX model, smoke-test it, redeploy a second version (the old process is stopped only
after the new one is healthy), then deploy models that fail and check that the previous version keeps
serving: one whose server exits during warm-up (rolled back), one that cannot run at all (refused
before any server starts). A model outside the registry has no card, so deploy computes its expected
mask offline from the same files. No stand-ins here; blank-mask servers under a published card are in
tests/test_deploy_registry.py.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import urllib.request
from pathlib import Path

import pytest
from deploy_fixtures import tiny_onnx_model

from personseg.cli import main
from personseg.deploy.config import DeployConfig
from personseg.deploy.local import is_our_server, read_state, state_file, stop_local
from personseg.deploy.outcome import DeployFailed
from personseg.deploy.step import run


def ready(url: str) -> int:
    with urllib.request.urlopen(f"{url}/v2/health/ready", timeout=5) as resp:
        return resp.status


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    stat = Path(f"/proc/{pid}/stat")
    return stat.exists() and not stat.read_text().split(") ")[-1].startswith("Z")


def test_local_deploy_redeploy_and_rollback(tmp_path: Path):
    state_dir = tmp_path / "state"
    first, second = tiny_onnx_model(tmp_path / "v1"), tiny_onnx_model(tmp_path / "v2")
    one_image = tiny_onnx_model(tmp_path / "batch1", batch=1)  # runs offline, fails the server's warm-up
    broken = tiny_onnx_model(tmp_path / "broken", corrupt=True)
    try:
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            assert main(["deploy", "--target", "local", "--model", str(first), "--state-dir", str(state_dir),
                         "--timeout", "60"]) == 0
        one = json.loads(out.getvalue())
        assert one["status"] == "deployed" and one["smoke"] == {**one["smoke"], "width": 160, "height": 240,
                                                                  "iou": 1.0}
        assert ready(one["endpoint"]) == 200
        recorded = json.loads(state_file(state_dir, "personseg").read_text())
        assert recorded["model"] == str(first) and recorded["pid"] == one["pid"]

        two = run(DeployConfig(model=str(second), target="local", timeout=60), state_dir=state_dir)
        assert two.endpoint != one["endpoint"] and ready(two.endpoint) == 200
        assert not alive(one["pid"]), "the old server stops once the new one is healthy"
        assert read_state(state_dir, "personseg")["model"] == str(second)

        with pytest.raises(DeployFailed) as info:
            run(DeployConfig(model=str(one_image), target="local", timeout=60), state_dir=state_dir)
        message = str(info.value)
        assert "exited with code" in message and "Got invalid dimensions" in message
        assert f"previous deployment keeps serving {second}" in message and info.value.rolled_back

        with pytest.raises(DeployFailed) as info:
            run(DeployConfig(model=str(broken), target="local", timeout=60), state_dir=state_dir)
        message = str(info.value)
        assert "not started, nothing changed" in message and "cannot compute the expected smoke-test mask" in message
        assert "ONNX Runtime cannot load" in message and not info.value.rolled_back
        assert ready(two.endpoint) == 200
        assert read_state(state_dir, "personseg")["pid"] == two.pid
        assert len(list(state_dir.glob("local-personseg-*.log"))) == 3, "one log per server started"
    finally:
        stopped = stop_local(state_dir, "personseg")
    assert stopped is not None and not alive(stopped["pid"])
    assert not state_file(state_dir, "personseg").exists()


def test_stale_state_counts_as_no_deployment(tmp_path: Path):
    state_file(tmp_path, "personseg").write_text(json.dumps({"pid": os.getpid(), "port": 1, "model": "x"}))
    assert not is_our_server(os.getpid(), 1)
    assert read_state(tmp_path, "personseg") is None
    state_file(tmp_path, "personseg").write_text("{not json")
    with pytest.raises(Exception, match="not valid JSON"):
        read_state(tmp_path, "personseg")


def test_dry_run_has_nothing_to_print_for_local(capsys: pytest.CaptureFixture):
    assert main(["deploy", "--target", "local", "--model", ".", "--dry-run"]) == 2
    assert "local target has none" in capsys.readouterr().err
