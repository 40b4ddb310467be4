"""Deploy's registry updates against the REAL registry on a real S3 server (``weed mini``).

The local target deploys ``models:/NAME@candidate`` (the server pulls it from S3 and verifies it);
success promotes the version to production and marks it ``deployed``; a corrupt next version fails,
is marked ``rolled-back`` with the reason, and production keeps pointing at the good version.
Skipped only if the storage test fixtures (tests/storage_fixtures.py) are not in the tree.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from deploy_fixtures import tiny_onnx_model

storage_fixtures = pytest.importorskip("storage_fixtures", reason="tests/storage_fixtures.py (weed fixture) absent")
s3_server = storage_fixtures.s3_server
s3_env = storage_fixtures.s3_env


def test_local_deploy_promotes_and_marks_in_the_real_registry(s3_env, tmp_path: Path):
    from personseg.deploy import DeployConfig, DeployFailed, run
    from personseg.deploy.local import stop_local
    from personseg.storage.registry import Registry

    registry = Registry.from_env()
    name = storage_fixtures.unique_name()
    good = registry.publish(tiny_onnx_model(tmp_path / "good"), name=name)
    registry.promote(name, good, "candidate")
    state = tmp_path / "state"
    try:
        result = run(DeployConfig(model=f"models:/{name}@candidate", target="local", timeout=60), state_dir=state)
        assert result.pinned_model == f"models:/{name}:{good}"
        assert registry.stage(name, "production") == good
        assert registry.status(name, good)["status"] == "deployed"

        bad = registry.publish(tiny_onnx_model(tmp_path / "bad", corrupt=True), name=name)
        registry.promote(name, bad, "candidate")
        with pytest.raises(DeployFailed):
            run(DeployConfig(model=f"models:/{name}@candidate", target="local", timeout=60), state_dir=state)
        status = registry.status(name, bad)
        assert status["status"] == "rolled-back" and "ONNX Runtime cannot load" in status["detail"]
        assert registry.stage(name, "production") == good
    finally:
        stop_local(state, "personseg")
