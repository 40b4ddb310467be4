"""Structured pruning on tiny networks: valid shapes at every ratio, and the right channels across skips.

The exactness test silences (BN gamma and beta 0) a random set of channels in every block of a
random-weight U-Net, exactly as many as the ratio removes: after ReLU those channels carry zeros, so
removing them must leave the output unchanged. Any slip in the bookkeeping (a wrong offset into the
decoder's ``[skip, upsampled]`` concatenation, the wrong columns of a consumer, the lowest instead of
the highest scores) changes it.
"""

from __future__ import annotations

import pytest
import torch
from torch import nn

from personseg.evaluate.flops import count_gflops
from personseg.models import build_model
from personseg.models.pruned import BLOCKS, double_conv, kept
from personseg.swap.prune import prune_weights

RATIOS = (0.0, 0.1, 0.25, 0.5, 0.75, 0.9, 0.95)


def _random_seed(width: int = 8) -> nn.Module:
    torch.manual_seed(0)
    seed = build_model("unet", width=width).eval()
    with torch.no_grad():
        for m in seed.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.running_mean.normal_()
                m.running_var.uniform_(0.5, 2.0)
                m.weight.normal_()
                m.bias.normal_()
    return seed


@pytest.mark.parametrize("ratio", RATIOS)
def test_every_ratio_gives_a_valid_network_with_fewer_channels(ratio: float) -> None:
    seed = _random_seed()
    pruned = prune_weights(seed, ratio)
    with torch.no_grad():
        out = pruned(torch.rand(2, 3, 64, 64))
    assert out.shape == (2, 1, 64, 64) and torch.isfinite(out).all()
    for block in BLOCKS:
        old, new = double_conv(seed, block).double_conv, double_conv(pruned, block).double_conv
        assert new[0].out_channels == kept(old[0].out_channels, ratio) >= 1
        assert new[3].out_channels == kept(old[3].out_channels, ratio) >= 1
    # the registered architecture rebuilds it: the saved model's arch loads these weights strictly
    build_model("unet-pruned", width=8, ratio=ratio).load_state_dict(pruned.state_dict(), strict=True)
    params = sum(p.numel() for p in pruned.parameters())
    assert params <= sum(p.numel() for p in seed.parameters()) * (1 - ratio) ** 2 * 1.6 + 200
    if ratio > 0:
        assert count_gflops(pruned, 64) < count_gflops(seed, 64)


def test_ratio_zero_is_the_seed() -> None:
    seed = _random_seed()
    x = torch.rand(2, 3, 64, 64)
    with torch.no_grad():
        assert torch.equal(prune_weights(seed, 0.0)(x), seed(x))


@pytest.mark.parametrize("ratio", (0.25, 0.5, 0.75))
def test_pruning_silenced_channels_leaves_the_output_unchanged(ratio: float) -> None:
    seed = _random_seed()
    gen = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for block in BLOCKS:
            seq = double_conv(seed, block).double_conv
            for bn in (seq[1], seq[4]):
                drop = torch.randperm(bn.num_features, generator=gen)[:bn.num_features - kept(bn.num_features, ratio)]
                bn.weight[drop] = 0.0
                bn.bias[drop] = 0.0
        x = torch.rand(2, 3, 64, 64)
        expected = seed(x)
        assert torch.allclose(prune_weights(seed, ratio)(x), expected, atol=1e-5)


def test_flops_fall_with_the_ratio_at_the_published_size() -> None:
    seed = count_gflops(build_model("unet", width=32), 256)
    flops = [count_gflops(build_model("unet-pruned", width=32, ratio=r), 256) for r in (0.25, 0.5, 0.75)]
    assert flops[0] < 0.6 * seed and flops[1] < 0.3 * seed and flops[2] < 0.08 * seed


def test_swap_command_names_the_ratio_once(tiny_model, tiny_dataset, tmp_path, capsys) -> None:
    import json

    from personseg.cli import main

    common = ["swap", "--model", str(tiny_model), "--data", str(tiny_dataset)]
    assert main([*common, "--design", "prune25", "--out", str(tmp_path / "a")]) == 0
    assert json.loads((tmp_path / "a" / "config.json").read_text())["arch"] == {"name": "unet-pruned", "width": 8,
                                                                                "ratio": 0.25}
    from personseg.models.checkpoint import load_model

    saved, seed = load_model(tmp_path / "a"), load_model(tiny_model)
    plain = prune_weights(seed, 0.25)  # the same channels, BatchNorm statistics as the seed left them
    assert torch.equal(saved.up1.conv.double_conv[0].weight, plain.up1.conv.double_conv[0].weight)
    # re-estimated on the training images after pruning (personseg.swap.prune.recalibrate)
    assert not torch.allclose(saved.up1.conv.double_conv[1].running_mean, plain.up1.conv.double_conv[1].running_mean)
    assert main([*common, "--design", "prune", "--ratio", "0.3", "--out", str(tmp_path / "b")]) == 0
    assert json.loads((tmp_path / "b" / "config.json").read_text())["arch"]["ratio"] == 0.3
    assert main([*common, "--design", "prune50", "--ratio", "0.3", "--out", str(tmp_path / "x")]) == 2
    assert "two ratios" in capsys.readouterr().err
    assert main([*common, "--design", "prune", "--ratio", "1.5", "--out", str(tmp_path / "x")]) == 2
    assert "--ratio 1.5: the share of channels pruned must be in (0, 1)" in capsys.readouterr().err
    assert not (tmp_path / "x").exists()


def test_recalibrate_sets_each_batchnorm_to_the_statistics_of_the_training_images(tiny_dataset) -> None:
    from personseg.data.prescan import prescan
    from personseg.data.stream import batches
    from personseg.swap.prune import recalibrate

    data = prescan(tiny_dataset, 64)
    data = data.subset(data.ids[:12])
    model = prune_weights(_random_seed(), 0.5)
    first = model.inc.double_conv
    assert recalibrate(model, data, batch_size=4) == 12  # equal batches: the mean of their means is the mean
    with torch.no_grad():
        x = torch.cat([torch.from_numpy(b) for b, _ in batches(data, 12)])
        out = first[0](x)
    assert torch.allclose(first[1].running_mean, out.mean(dim=(0, 2, 3)), atol=1e-4)
    assert torch.allclose(first[1].running_var, out.var(dim=(0, 2, 3)), rtol=0.2)  # within-batch variances
    assert not model.training and all(m.momentum == 0.1 for m in model.modules() if isinstance(m, nn.BatchNorm2d))
