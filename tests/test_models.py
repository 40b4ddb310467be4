import pytest
import torch

from personseg.models import build_model, list_models
from personseg.models.swapped import bilinear_transposed


@pytest.mark.parametrize("name,config", [
    ("unet", {"decoder": "bilinear"}),
    ("unet", {"decoder": "transposed"}),
    ("unet-swapped", {"design": "exact"}),
    ("unet-swapped", {"design": "lean", "squeeze": 2}),
    ("unet-swapped", {"design": "lean", "squeeze": 4}),
])
def test_every_model_runs_on_tiny_input(name, config):
    model = build_model(name, width=8, **config).eval()
    with torch.no_grad():
        out = model(torch.rand(2, 3, 64, 64))
    assert out.shape == (2, 1, 64, 64)
    assert torch.isfinite(out).all()


def test_registry_lists_all_models_and_rejects_unknown():
    assert {"unet", "unet-swapped"} <= set(list_models())
    with pytest.raises(ValueError, match="unknown model 'resnet'.*unet"):
        build_model("resnet")
    with pytest.raises(ValueError, match="decoder 'nearest' unknown"):
        build_model("unet", decoder="nearest")


def test_bilinear_upsample_equals_transposed_conv_except_border():
    x = torch.randn(2, 5, 12, 12)
    up = torch.nn.Upsample(scale_factor=2, mode="bilinear", align_corners=False)(x)
    ct = bilinear_transposed(5)(x)
    interior = (up - ct)[:, :, 1:-1, 1:-1].abs().max()
    assert interior < 1e-5
    assert (up - ct).abs().max() > 0.1  # the border differs: zero padding instead of edge clamping


def test_transposed_decoder_has_more_flops_and_lean_fewer():
    from personseg.evaluate.flops import count_gflops

    bilinear = count_gflops(build_model("unet", width=32), 256)
    assert 19.5 < bilinear < 20.5  # the published model's 20 GFLOP/img
    assert count_gflops(build_model("unet", width=32, decoder="transposed"), 256) > bilinear * 1.15
    assert count_gflops(build_model("unet-swapped", width=32, design="lean", squeeze=2), 256) < bilinear * 0.9


def test_swap_design_specs():
    from personseg.swap.config import design_name, parse_design

    assert parse_design("exact") == {"design": "exact", "squeeze": 1, "ratio": 0.0}
    assert parse_design("lean") == {"design": "lean", "squeeze": 2, "ratio": 0.0}
    assert parse_design("lean4") == parse_design("lean:4") == {"design": "lean", "squeeze": 4, "ratio": 0.0}
    assert parse_design("prune50") == parse_design("prune:0.5") == parse_design("prune") == {
        "design": "prune", "squeeze": 1, "ratio": 0.5}
    assert design_name(**parse_design("prune25")) == "prune25" and design_name("prune", 1, 0.125) == "prune:0.125"
    for bad in ("prune0", "prune100", "prune:1.5", "prunex"):
        with pytest.raises(ValueError, match=f"swap design '{bad}'"):
            parse_design(bad)
    with pytest.raises(ValueError, match="swap design 'nearest2' unknown"):
        parse_design("nearest2")


def test_a_pruned_network_distils_at_its_own_default_rate_and_a_given_rate_is_kept():
    from personseg.errors import UserError
    from personseg.swap.config import SwapConfig, parse_design

    # the pipeline's swap component names only the design: the rate comes from it (docs/experiments/pruning.md)
    assert SwapConfig(model="", data="", **parse_design("prune50")).lr == 1e-3
    assert SwapConfig(model="", data="", **parse_design("lean4")).lr == 3e-4
    assert SwapConfig(model="", data="", **parse_design("exact")).lr == 3e-4
    assert SwapConfig(model="", data="", **parse_design("prune25"), lr=5e-4).lr == 5e-4
    with pytest.raises(UserError, match="--lr -0.1"):
        SwapConfig(model="", data="", lr=-0.1).check()


def test_every_swap_design_a_user_can_name_is_built_by_the_swapped_architecture():
    from personseg.models.swapped import BUILT
    from personseg.swap.config import DESIGNS

    assert (*BUILT, "prune") == DESIGNS  # prune is built by the pruned architecture
    for design in BUILT:
        assert build_model("unet-swapped", width=8, design=design, squeeze=2) is not None
    assert build_model("unet-pruned", width=8, ratio=0.5) is not None
    with pytest.raises(ValueError, match="swap design 'nearest' unknown"):
        build_model("unet-swapped", width=8, design="nearest")
