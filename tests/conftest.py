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
    run(TrainConfig(data=str(tiny_dataset), width=TINY_WIDTH, size=TINY_SIZE, epochs=8, lr=3e-3, composite=0.0,
                    threads=2), out)
    return out


@pytest.fixture(scope="session")
def tiny_onnx_fp32(tiny_model: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny model exported to FP32 ONNX (same network, ONNX Runtime)."""
    from personseg.quantize.step import export

    return export(str(tiny_model), tmp_path_factory.mktemp("models") / "onnx-fp32")


@pytest.fixture(scope="session")
def tiny_int8(tiny_model: Path, tiny_dataset: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny model quantized to INT8 (one tuning trial: quick, and enough for a tiny network)."""
    from personseg.quantize.step import QuantizeConfig, run

    out = tmp_path_factory.mktemp("models") / "int8"
    run(QuantizeConfig(model=str(tiny_model), data=str(tiny_dataset), calibration=16, max_trials=1), out)
    return out


@pytest.fixture
def sessions(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The intra-op thread count of every ONNX Runtime session created (ours and INC's)."""
    import onnxruntime

    made: list[int] = []

    class Recording(onnxruntime.InferenceSession):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            made.append(self.get_session_options().intra_op_num_threads)

    monkeypatch.setattr(onnxruntime, "InferenceSession", Recording)
    return made
