"""The gate's production check against a real registry on a local S3 server (weed mini)."""

from __future__ import annotations

from pathlib import Path

import pytest
from storage_fixtures import publish


@pytest.fixture
def registry_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    from personseg.storage.weed import local_s3

    monkeypatch.setenv("PERSONSEG_CACHE", str(tmp_path / "cache"))
    with local_s3(tmp_path / "s3", set_env=True) as server:
        yield server


def _model(out: Path) -> Path:
    import torch

    from personseg.models import build_model
    from personseg.models.checkpoint import save_model

    torch.manual_seed(0)
    out.mkdir()
    save_model(build_model("unet", decoder="bilinear", width=8), out, {"name": "unet", "decoder": "bilinear",
                                                                     "width": 8}, 64)
    return out


def test_production_is_scored_only_when_promoted(registry_env, tmp_path: Path) -> None:
    from personseg.data.synthetic import write_synthetic
    from personseg.steps.production import production_ref, score_production
    from personseg.storage.registry import Registry

    data = write_synthetic(tmp_path / "data", count=10, size=64)
    assert score_production("seg", data) is None  # no bucket yet: an empty registry
    registry = Registry.from_env()
    version = publish(registry, _model(tmp_path / "m"), "seg")
    assert production_ref("seg") is None  # published but never promoted
    registry.promote("seg", version, "production")
    scored = score_production("seg", data)
    assert scored["ref"] == f"models:/seg:{version}"
    assert 0.0 <= scored["iou"] <= 1.0
    # per image, on the test split in the evaluation's order: what the gate's paired bootstrap pairs
    from personseg.data.split import split_ids

    test_ids = split_ids(sorted(p.stem for p in (data / "images").iterdir()), data).test
    assert scored["ids"] == test_ids and len(scored["per_image_iou"]) == len(test_ids)
    assert sum(scored["per_image_iou"]) / len(test_ids) == pytest.approx(scored["iou"])


def test_no_endpoint_means_no_registry(monkeypatch: pytest.MonkeyPatch) -> None:
    from personseg.steps.production import production_ref

    for var in ("MINIO_ENDPOINT", "AWS_ENDPOINT_URL"):
        monkeypatch.delenv(var, raising=False)
    assert production_ref("seg") is None


def test_registry_errors_are_not_read_as_no_model(monkeypatch: pytest.MonkeyPatch) -> None:
    from personseg.steps.production import production_ref
    from personseg.storage.errors import StorageError

    monkeypatch.setenv("MINIO_ENDPOINT", "http://127.0.0.1:1")  # nothing listens on port 1
    monkeypatch.setenv("MINIO_ACCESS_KEY", "x")
    monkeypatch.setenv("MINIO_SECRET_KEY", "y")
    monkeypatch.setenv("PERSONSEG_S3_RETRIES", "0")
    with pytest.raises(StorageError):
        production_ref("seg")
