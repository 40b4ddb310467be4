"""Fixtures for the storage tests: a real ``weed mini`` S3 server on a free 127.0.0.1 port.

``s3_server`` starts one server per test module and stops it afterwards. ``s3_env`` points the
environment at it with a fresh cache and a fresh If-None-Match probe per test; tests use unique
prefixes and model names in two shared buckets, because SeaweedFS takes up to a second to allocate
volumes for each new bucket.
"""

from __future__ import annotations

import json
import os
import threading
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from personseg.modeldir import write_config
from personseg.serving.smoke_probe import card_entry
from personseg.storage import conditional_put
from personseg.storage.client import Store
from personseg.storage.registry import Registry
from personseg.storage.weed import LocalS3, start_local_s3

DATA_BUCKET = "data"
MODEL_BUCKET = "models"

FOREIGN_VARS = (
    "AWS_ENDPOINT_URL", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_REGION", "AWS_DEFAULT_REGION",
    "MINIO_REGION", "KFP_RUN_ID", "PERSONSEG_GIT_COMMIT", "PERSONSEG_WEED",
)


@pytest.fixture(scope="module")
def s3_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalS3]:
    server = start_local_s3(tmp_path_factory.mktemp("s3"))
    try:
        store = Store(server.config())
        for bucket in (DATA_BUCKET, MODEL_BUCKET):
            store.ensure_bucket(bucket)
            store.put_bytes(bucket, "warm-up", b"warm")  # pay the volume allocation once, here
            store.remove(bucket, "warm-up")
        yield server
    finally:
        server.stop()


def point_env_at(monkeypatch: pytest.MonkeyPatch, server: LocalS3) -> None:
    """Make the environment name ``server`` and nothing else, with quick retries."""
    for var in FOREIGN_VARS:
        monkeypatch.delenv(var, raising=False)
    for key, value in server.env().items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("PERSONSEG_S3_RETRIES", "2")
    monkeypatch.setenv("PERSONSEG_S3_BACKOFF", "0.05")
    monkeypatch.setenv("PERSONSEG_S3_TIMEOUT", "2")


@pytest.fixture
def s3_env(s3_server: LocalS3, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> LocalS3:
    point_env_at(monkeypatch, s3_server)
    monkeypatch.setenv("PERSONSEG_MODEL_BUCKET", MODEL_BUCKET)
    monkeypatch.setenv("PERSONSEG_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(conditional_put, "_answers", {})  # ports are reused across modules: never trust an old answer
    return s3_server


def unique_prefix() -> str:
    """A dataset URI no other test uses."""
    return f"s3://{DATA_BUCKET}/{uuid.uuid4().hex[:10]}"


def unique_name() -> str:
    """A model name no other test uses."""
    return f"m-{uuid.uuid4().hex[:10]}"


def make_dataset(root: Path, count: int = 3, size: int = 24, seed: int = 0) -> Path:
    """A tiny dataset: images/<id>.png (RGB noise) and masks/<id>.png (a filled rectangle)."""
    rng = np.random.default_rng(seed)
    (root / "images").mkdir(parents=True)
    (root / "masks").mkdir()
    for i in range(count):
        Image.fromarray(rng.integers(0, 255, (size, size, 3), dtype=np.uint8)).save(root / "images" / f"{i:03d}.png")
        mask = np.zeros((size, size), dtype=np.uint8)
        mask[size // 4 : 3 * size // 4, size // 3 : 2 * size // 3] = 255
        Image.fromarray(mask).save(root / "masks" / f"{i:03d}.png")
    return root


def make_model_dir(
    root: Path, weights: bytes | None = None, data_sha: str = "d" * 64, metrics: dict | None = None
) -> Path:
    """A saved-model dir (kind onnx) whose weights are arbitrary bytes: the registry never runs it."""
    root.mkdir(parents=True)
    write_config(
        root,
        kind="onnx",
        precision="int8",
        weights="model.onnx",
        image_size=64,
        arch={"name": "unet", "decoder": "transposed", "width": 8},
        extra={"data": {"uri": "s3://datasets/tiny", "sha256": data_sha}, "calibration": {"sha256": "c" * 64}},
    )
    (root / "model.onnx").write_bytes(weights if weights is not None else os.urandom(4096))
    (root / "metrics.json").write_text(json.dumps(metrics if metrics is not None else {"miou": 0.81, "ms": 12.5}))
    return root


def publish(registry: Registry, model_dir: Path, name: str, card: dict[str, Any] | None = None) -> int:
    """Publish as ``personseg models publish`` does: the probe's entry computed here, then handed to the registry."""
    return registry.publish(model_dir, name, card, smoke=card_entry(model_dir))


def run_concurrently(fn: Callable[[Any], None], args: list[Any]) -> list[BaseException]:
    """Run ``fn(arg)`` for every arg on its own thread; the exceptions they raised (none: empty)."""
    errors: list[BaseException] = []

    def guarded(arg: Any) -> None:
        try:
            fn(arg)
        except BaseException as exc:  # surfaced by the caller's assertion
            errors.append(exc)

    threads = [threading.Thread(target=guarded, args=(a,)) for a in args]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return errors
