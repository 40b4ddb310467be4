"""What is served is what the registry recorded: the server checks the model tree against its card.

A version is published to a real S3 server and pulled into a folder, as KServe's storage initializer
copies it to /mnt/models; then the folder is edited the ways an attacker or an accident would, and a
real ``personseg serve`` process must refuse to become ready. The deployer pins the card's digest in
the serving pod's environment (checked on the rendered Deployment and InferenceService).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import storage_fixtures
from deploy_fixtures import FakeKubeApi, RecordingRegistry, start_model_server, tiny_onnx_model
from storage_fixtures import publish, unique_name

from personseg.deploy.config import DeployConfig
from personseg.deploy.step import run
from personseg.hashing import file_sha256
from personseg.serving.smoke_probe import card_entry
from personseg.storage.card import CARD
from personseg.storage.errors import IntegrityError
from personseg.storage.registry import Registry
from personseg.storage.verify import CARD_DIGEST_ENV, card_digest, verify_model_tree

s3_server = storage_fixtures.s3_server
s3_env = storage_fixtures.s3_env


@pytest.fixture
def pulled(s3_env, tmp_path: Path) -> Path:
    """A published tiny model, pulled into a plain folder (files + model-card.json)."""
    reg = Registry.from_env()
    name = unique_name()
    version = publish(reg, tiny_onnx_model(tmp_path / "model"), name)
    return reg.pull(f"models:/{name}:{version}", tmp_path / "mnt-models")


def serve_exit(model: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    """Run the server on ``model`` until it exits (a refused model) or 60 s pass (it would be serving)."""
    cmd = [sys.executable, "-m", "personseg", "serve", "--model", str(model), "--host", "127.0.0.1", "--port", "0"]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=60, env={**os.environ, **(env or {})})


def card_of(folder: Path) -> dict:
    return json.loads((folder / CARD).read_text())


def test_a_pulled_version_verifies_and_its_digest_is_stable(pulled: Path) -> None:
    assert verify_model_tree(pulled) == card_digest(card_of(pulled))
    assert verify_model_tree(pulled, card_digest(card_of(pulled))) == card_digest(card_of(pulled))


def test_an_edited_config_is_refused_by_the_server(pulled: Path) -> None:
    config = pulled / "config.json"
    config.write_text(config.read_text().replace('"image_size": 64', '"image_size": 32'))
    with pytest.raises(IntegrityError, match="config.json: content does not match"):
        verify_model_tree(pulled)
    done = serve_exit(pulled)
    assert done.returncode != 0 and "config.json: content does not match model-card.json" in done.stderr


def test_an_unlisted_file_is_refused(pulled: Path) -> None:
    (pulled / "extra.onnx").write_bytes(b"not published")
    with pytest.raises(IntegrityError, match="not in model-card.json: extra.onnx"):
        verify_model_tree(pulled)


def test_weights_and_card_replaced_together_are_refused_by_the_pinned_digest(pulled: Path, tmp_path: Path) -> None:
    pinned = card_digest(card_of(pulled))
    other = tiny_onnx_model(tmp_path / "other", bias=3.0)
    (pulled / "model.onnx").write_bytes((other / "model.onnx").read_bytes())
    card = card_of(pulled)
    weights = pulled / "model.onnx"
    card["files"]["model.onnx"] = {"sha256": file_sha256(weights), "size": weights.stat().st_size}
    (pulled / CARD).write_text(json.dumps(card))
    assert verify_model_tree(pulled) != pinned, "a consistent forged card passes the file check alone"
    with pytest.raises(IntegrityError, match="card was replaced after deploy"):
        verify_model_tree(pulled, pinned)
    done = serve_exit(pulled, {CARD_DIGEST_ENV: pinned})
    assert done.returncode != 0 and "the card was replaced after deploy" in done.stderr


@pytest.mark.parametrize("target", ["kubernetes", "kserve"])
def test_the_deployer_pins_the_card_digest_in_the_pod(target: str, tmp_path: Path) -> None:
    model = tiny_onnx_model(tmp_path / "model")
    server = start_model_server(model, tmp_path / "server.log")
    api = FakeKubeApi(proxy_to=server.url).start()
    reg = RecordingRegistry({"personseg": 3}, {("personseg", "candidate"): 3}, smoke=card_entry(model))
    try:
        cfg = DeployConfig(model="models:/personseg@candidate", target=target, namespace="serving", timeout=10)
        assert run(cfg, api=api.kube(), registry=lambda: reg, poll=0.05).status == "deployed"
    finally:
        api.stop()
        server.stop()
    workload = api.get("deployments" if target == "kubernetes" else "inferenceservices", "serving", "personseg")
    spec = workload["spec"]["template"]["spec"] if target == "kubernetes" else workload["spec"]["predictor"]
    env = {e["name"]: e.get("value") for e in spec["containers"][0]["env"]}
    assert env[CARD_DIGEST_ENV] == card_digest(reg.card("personseg", 3))
