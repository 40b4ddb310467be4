"""Training placement and state: --device/--precision, device-neutral checkpoints, exact resume, bad samples."""

from __future__ import annotations

import logging
import shutil

import numpy as np
import pytest
import torch
from PIL import Image

from personseg.errors import UserError
from personseg.training.device import resolve
from personseg.training.step import TrainConfig, run

TINY = {"width": 8, "size": 64, "threads": 1, "workers": 0}


def test_bf16_autocast_on_the_cpu_runs_convolutions_in_bf16():
    placement = resolve("cpu", "bf16")
    conv = placement.model(torch.nn.Conv2d(3, 4, 3))
    with placement.autocast():
        out = conv(placement.inputs(torch.rand(2, 3, 8, 8)))
    assert out.dtype == torch.bfloat16 and conv.weight.dtype == torch.float32
    assert not placement.grad_scaler().is_enabled()  # loss scaling is for fp16 on CUDA only


def test_impossible_devices_and_precisions_name_their_flag():
    with pytest.raises(UserError, match="--precision fp16: needs --device cuda"):
        resolve("cpu", "fp16")
    with pytest.raises(UserError, match="--device 'tpu'"):
        resolve("tpu")
    with pytest.raises(UserError, match="--precision 'int4'"):
        resolve("cpu", "int4")
    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA: the no-CUDA errors cannot happen here")
    with pytest.raises(UserError, match=r"--device cuda: torch sees no CUDA device"):
        resolve("cuda")
    with pytest.raises(UserError, match="--precision fp16: needs --device cuda"):
        resolve("auto", "fp16")


def test_auto_says_when_it_falls_back_to_the_cpu(caplog):
    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    with caplog.at_level(logging.DEBUG):  # a debug line: `personseg train` prints one line per epoch
        assert resolve("auto").device.type == "cpu"
    assert "--device auto: no CUDA device, training on the CPU" in caplog.text


def _small_copy(tiny_dataset, root, count=24):
    """The first ``count`` samples (bf16 is emulated, slowly, on CPUs without bf16 instructions)."""
    for part in ("images", "masks"):
        (root / part).mkdir(parents=True)
        for path in sorted((tiny_dataset / part).iterdir())[:count]:
            shutil.copy(path, root / part)
    return root


def test_a_bf16_model_loads_on_a_cpu_only_server(tiny_dataset, tmp_path):
    from personseg.models.checkpoint import load_model
    from personseg.runtime import load_predictor

    out = tmp_path / "bf16"
    data = _small_copy(tiny_dataset, tmp_path / "data")
    run(TrainConfig(data=str(data), epochs=1, device="cpu", precision="bf16", **TINY), out)
    model = load_model(out)
    weights = [p for p in model.state_dict().values() if p.is_floating_point()]
    assert weights and all(p.dtype == torch.float32 and p.device.type == "cpu" for p in weights)
    state = torch.load(out / "train_state.pt", weights_only=True)  # no map_location: tensors must be CPU already
    tensors = [t for part in ("model", "best_state") for t in state[part].values()]
    tensors += [t for s in state["optimizer"]["state"].values() for t in s.values() if isinstance(t, torch.Tensor)]
    assert tensors and all(t.device.type == "cpu" for t in tensors)
    logits = load_predictor(out, threads=1).logits(np.random.rand(2, 3, 64, 64).astype(np.float32))
    assert logits.shape == (2, 1, 64, 64) and np.isfinite(logits).all()


def test_resuming_gives_the_weights_of_an_unbroken_run(tiny_dataset, tmp_path):
    """Order and augmentation come from (seed, epoch, index): no RNG state to carry, so resume is exact."""
    from safetensors.torch import load_file

    cfg = TrainConfig(data=str(tiny_dataset), epochs=2, **TINY)
    run(cfg, tmp_path / "straight")
    run(TrainConfig(data=str(tiny_dataset), epochs=1, **TINY), tmp_path / "first")
    run(cfg, tmp_path / "resumed", resume=tmp_path / "first")
    a, b = load_file(tmp_path / "straight" / "model.safetensors"), load_file(tmp_path / "resumed" / "model.safetensors")
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_training_names_a_sample_that_fails_to_decode_or_masks_it_out(tiny_dataset, tmp_path, caplog):
    from personseg.data.split import split_ids

    root = _small_copy(tiny_dataset, tmp_path / "data")
    bad = root / "masks" / f"{split_ids(sorted(p.stem for p in (root / 'images').iterdir())).train[0]}.png"
    Image.fromarray(np.arange(64 * 64, dtype=np.uint8).reshape(64, 64) % 3).save(bad)
    with pytest.raises(UserError, match=f"{bad.name}: mask is not binary"):
        run(TrainConfig(data=str(root), epochs=1, **TINY), tmp_path / "m")
    result = run(TrainConfig(data=str(root), epochs=1, skip_invalid=True, **TINY), tmp_path / "m")
    assert result.best_epoch == 1
    assert "epoch 1: 1 sample(s) failed to decode and were masked out" in caplog.text
    assert f"{bad.name}: mask is not binary" in caplog.text
