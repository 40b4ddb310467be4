"""Shared fixtures: a tiny synthetic dataset and a tiny trained model (width 8, 64x64), built once."""

from __future__ import annotations

from pathlib import Path

import pytest

TINY_SIZE = 64
TINY_WIDTH = 8


@pytest.fixture(scope="session")
def tiny_dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from personseg.data.synthetic import write_synthetic

    return write_synthetic(tmp_path_factory.mktemp("data") / "syn", count=96, size=TINY_SIZE, seed=1)


@pytest.fixture(scope="session")
def tiny_model(tiny_dataset: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A bilinear U-Net trained long enough to segment the synthetic figures (IoU well above chance)."""
    from personseg.training.step import TrainConfig, run

    out = tmp_path_factory.mktemp("models") / "bilinear"
    run(TrainConfig(data=str(tiny_dataset), width=TINY_WIDTH, size=TINY_SIZE, epochs=8, lr=3e-3, threads=2), out)
    return out
