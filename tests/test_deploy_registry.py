"""Deploy's registry updates against the REAL registry on a real S3 server (``weed mini``).

The local target deploys ``models:/NAME@candidate`` (the server pulls it from S3 and verifies it);
publish stores the probe's expected mask in the card, success promotes the version to production and
marks it ``deployed``. A next version whose server answers blank masks is rolled back and marked
``rolled-back`` with the IoU; a corrupt one (publish could not run it, the card says why) is refused
before any server starts and marked ``deploy-failed``. Production keeps pointing at, and the old
process keeps serving, the good version. Skipped only if tests/storage_fixtures.py is not in the tree.
"""

from __future__ import annotations

import urllib.request
from pathlib import Path

import pytest
from deploy_fixtures import tiny_onnx_model
from storage_fixtures import publish

storage_fixtures = pytest.importorskip("storage_fixtures", reason="tests/storage_fixtures.py (weed fixture) absent")
s3_server = storage_fixtures.s3_server
s3_env = storage_fixtures.s3_env


def ready(url: str) -> int:
    with urllib.request.urlopen(f"{url}/v2/health/ready", timeout=5) as resp:
        return resp.status


def test_local_deploy_promotes_and_marks_in_the_real_registry(s3_env, tmp_path: Path,
                                                               monkeypatch: pytest.MonkeyPatch):
    import personseg.deploy.local as local
    from personseg.deploy.config import DeployConfig
    from personseg.deploy.outcome import DeployFailed
    from personseg.deploy.step import run
    from personseg.storage.registry import Registry

    registry = Registry.from_env()
    name = storage_fixtures.unique_name()
    good = publish(registry, tiny_onnx_model(tmp_path / "good"), name=name)
    assert registry.card(name, good)["smoke"]["foreground_fraction"] > 0.5, "publish recorded a non-blank mask"
    registry.promote(name, good, "candidate")
    state = tmp_path / "state"
    try:
        result = run(DeployConfig(model=f"models:/{name}@candidate", target="local", timeout=60), state_dir=state)
        assert result.pinned_model == f"models:/{name}:{good}" and result.smoke["iou"] == 1.0
        assert registry.stage(name, "production") == good
        assert registry.status(name, good)["status"] == "deployed"

        # The next version's files are fine and so is its card, but the server that comes up answers
        # blank masks (as a broken image or a preprocessing change would): the smoke test must see it.
        nxt = publish(registry, tiny_onnx_model(tmp_path / "next"), name=name)
        registry.promote(name, nxt, "candidate")
        blank = tiny_onnx_model(tmp_path / "blank", bias=-10.0)
        real_start = local.start_server
        # (started without the card digest the deploy pins: with it, the server would refuse the other files)
        monkeypatch.setattr(local, "start_server", lambda uri, port, log, threads, card="": real_start(
            str(blank), port, log, threads))
        with pytest.raises(DeployFailed) as info:
            run(DeployConfig(model=f"models:/{name}@candidate", target="local", timeout=60), state_dir=state)
        assert "IoU 0.000 < 0.9" in str(info.value) and info.value.rolled_back
        status = registry.status(name, nxt)
        assert status["status"] == "rolled-back" and "mask differs from the expected one: IoU 0.000" in status["detail"]
        assert registry.stage(name, "production") == good
        assert ready(result.endpoint) == 200, "the previous version keeps serving"
        monkeypatch.setattr(local, "start_server", real_start)

        bad = publish(registry, tiny_onnx_model(tmp_path / "bad", corrupt=True), name=name)
        assert "ONNX Runtime cannot load" in registry.card(name, bad)["smoke"]["error"]
        registry.promote(name, bad, "candidate")
        with pytest.raises(DeployFailed, match="not started, nothing changed"):
            run(DeployConfig(model=f"models:/{name}@candidate", target="local", timeout=60), state_dir=state)
        status = registry.status(name, bad)
        assert status["status"] == "deploy-failed" and "did not run at publish" in status["detail"]
        assert "ONNX Runtime cannot load" in status["detail"]
        assert registry.stage(name, "production") == good and ready(result.endpoint) == 200
    finally:
        local.stop_local(state, "personseg")
