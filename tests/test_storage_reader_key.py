"""The serving pods' read-only key, as docs/kubeflow.md creates it on SeaweedFS, on a real SeaweedFS.

An identity whose actions are ``Read:models`` and ``List:models`` (what ``s3.configure -actions
Read:models,List:models`` writes) pulls a published version through ``models:/`` exactly as the server
does at start, and can change nothing: no publish, no promote, no other bucket.
"""

from __future__ import annotations

import json
import secrets
from pathlib import Path

import pytest
from deploy_fixtures import tiny_onnx_model
from storage_fixtures import publish

from personseg.storage import conditional_put
from personseg.storage.client import Store
from personseg.storage.config import S3Config
from personseg.storage.errors import BadCredentials
from personseg.storage.registry import Registry
from personseg.storage.resolve import fetch_model
from personseg.storage.verify import verify_model_tree
from personseg.storage.weed import CONFIG_FILE, start_local_s3

READER = ["Read:models", "List:models"]


def test_the_read_only_key_pulls_a_model_and_changes_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = tmp_path / "s3"
    root.mkdir()
    admin = ("PSADMIN" + secrets.token_hex(6).upper(), secrets.token_urlsafe(24))
    reader = ("PSREAD" + secrets.token_hex(6).upper(), secrets.token_urlsafe(24))
    identities = [
        {"name": "admin", "credentials": [{"accessKey": admin[0], "secretKey": admin[1]}],
         "actions": ["Admin", "Read", "Write", "List", "Tagging"]},
        {"name": "personseg-reader", "credentials": [{"accessKey": reader[0], "secretKey": reader[1]}],
         "actions": READER},
    ]
    (root / CONFIG_FILE).write_text(json.dumps({"identities": identities}))
    server = start_local_s3(root)
    monkeypatch.setattr(conditional_put, "_answers", {})
    monkeypatch.setenv("PERSONSEG_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("PERSONSEG_S3_RETRIES", "0")
    try:
        endpoint = server.endpoint.split("://", 1)[1]
        owner = Registry(Store(S3Config(endpoint, *admin, secure=False)), "models")
        version = publish(owner, tiny_onnx_model(tmp_path / "model"), "personseg")
        owner.promote("personseg", version, "production")
        Store(S3Config(endpoint, *admin, secure=False)).ensure_bucket("data")

        for key, value in {"MINIO_ENDPOINT": server.endpoint, "MINIO_ACCESS_KEY": reader[0],
                           "MINIO_SECRET_KEY": reader[1], "MINIO_SECURE": "false"}.items():
            monkeypatch.setenv(key, value)
        pulled = fetch_model("models:/personseg@production")  # what `personseg serve` does at start
        assert verify_model_tree(pulled) is not None

        read_only = Registry(Store(S3Config(endpoint, *reader, secure=False)), "models")
        with pytest.raises(BadCredentials):
            publish(read_only, tiny_onnx_model(tmp_path / "other"), "personseg")
        with pytest.raises(BadCredentials):
            read_only.promote("personseg", version, "candidate")
        with pytest.raises(BadCredentials):
            Store(S3Config(endpoint, *reader, secure=False)).list("data", "")
        assert owner.stages("personseg") == {"production": version}
    finally:
        server.stop()
