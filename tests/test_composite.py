"""Copy-paste compositing and photometric augmentation: masks stay on their pixels, labels stay labels."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from personseg.data import IGNORE
from personseg.data.augment import AugmentConfig, augment_sample, sample_generator
from personseg.data.composite import RIM, Cutout, compose, cut_person, inpaint, paste, procedural
from personseg.data.photometric import blur, jpeg, photometric, rotate_hue
from personseg.data.prescan import prescan
from personseg.data.stream import StreamDataset
from personseg.errors import UserError
from personseg.modeldir import ModelInfo
from personseg.swap.step import seed_augmentation
from personseg.training.step import TrainConfig

RED = torch.tensor([1.0, 0.0, 0.0])[:, None, None]
S = 64


def square_sample(top: int, left: int, side: int, ignore_band: int = 0, leg: bool = False
                  ) -> tuple[torch.Tensor, torch.Tensor]:
    """A red square person on a blue background, optionally with an ignore band around it.

    ``leg`` adds a bar under the square's left half: a shape that a flip or shift shows.
    """
    image = torch.zeros(3, S, S)
    image[2] = 1.0
    labels = torch.zeros(1, S, S, dtype=torch.uint8)
    if ignore_band:
        b = ignore_band
        labels[0, top - b:top + side + b, left - b:left + side + b] = IGNORE
    image[:, top:top + side, left:left + side] = RED
    labels[0, top:top + side, left:left + side] = 1
    if leg:
        image[:, top + side:top + side + side // 2, left:left + side // 3] = RED
        labels[0, top + side:top + side + side // 2, left:left + side // 3] = 1
    return image, labels


def test_a_pasted_square_lands_where_it_was_put_with_its_rim_ignored():
    empty = torch.zeros(10, 10, dtype=torch.bool)
    cut = Cutout(RED.expand(3, 10, 10).clone(), empty.clone(), empty.clone())
    cut.person[2:8, 2:8] = True
    cut.rim[1:9, 1:9] = True
    cut.rim[2:8, 2:8] = False
    canvas = (torch.zeros(3, S, S), torch.zeros(1, S, S, dtype=torch.uint8))
    image, labels = paste(canvas, cut, scale=1.0, top=20, left=30, flip=False)
    expect = torch.zeros(S, S, dtype=torch.uint8)
    expect[21:29, 31:39] = IGNORE
    expect[22:28, 32:38] = 1
    assert torch.equal(labels[0], expect)
    assert torch.equal(image[0] > 0, expect > 0)  # red pixels exactly where person or rim was pasted
    assert canvas[1].sum() == 0  # the canvas passed in is not modified


def test_paste_scales_flips_and_drops_what_falls_off_the_canvas():
    cut = Cutout(RED.expand(3, 4, 8).clone(), torch.zeros(4, 8, dtype=torch.bool), torch.zeros(4, 8, dtype=torch.bool))
    cut.person[:, :4] = True  # left half
    canvas = (torch.zeros(3, S, S), torch.zeros(1, S, S, dtype=torch.uint8))
    _, labels = paste(canvas, cut, scale=2.0, top=S - 4, left=-2, flip=True)  # 8x16, flipped: right half
    expect = torch.zeros(S, S, dtype=torch.uint8)
    expect[S - 4:, 6:14] = 1  # columns 8..15 of the pasted cut, shifted by -2; rows past the bottom dropped
    assert torch.equal(labels[0], expect)


def test_cut_person_keeps_the_core_and_marks_the_edge_and_the_teachers_band_as_rim():
    image, labels = square_sample(20, 20, 16, ignore_band=3)
    cut = cut_person((image, labels))
    assert cut is not None
    core_side = 16 - 2 * RIM
    assert int(cut.person.sum()) == core_side**2
    assert not (cut.person & cut.rim).any()
    assert cut.person.shape == (22, 22)  # the square plus its 3-pixel teacher band on each side
    assert cut_person((image, torch.zeros_like(labels))) is None


@pytest.mark.parametrize("seed", range(6))
def test_composites_keep_every_person_label_on_person_pixels(seed: int):
    samples = [square_sample(4 + 4 * i, 6 + 5 * i, 12 + 3 * i, ignore_band=i % 2, leg=True) for i in range(4)]
    gen = torch.Generator().manual_seed(seed)
    donors = iter(samples * 4)
    image, labels = compose(samples[0], lambda: next(donors), gen)
    person = labels[0] == 1
    assert person.any()
    red = (image - RED).abs().amax(0) < 1e-5
    assert red[person].all()  # every pixel labelled person shows a person's pixel
    assert ((labels[0] == 1) | (labels[0] == IGNORE))[red].all()  # and no person pixel is labelled background


def test_rotate_hue_turns_colours_about_the_grey_axis():
    image = torch.tensor([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0], [0.3, 0.3, 0.3]]).T[:, None]  # (3, 1, 4)
    third = rotate_hue(image, 1 / 3)
    assert torch.allclose(third[:, 0, :3], image[:, 0, [1, 2, 0]], atol=1e-6)  # red -> green -> blue -> red
    assert torch.allclose(third[:, 0, 3], image[:, 0, 3], atol=1e-6)  # greys stay grey
    assert torch.allclose(rotate_hue(image, 0.0), image) and torch.allclose(rotate_hue(image, 1.0), image, atol=1e-6)
    some = torch.rand(3, 8, 8)
    turned = rotate_hue(some, 0.1)
    inside = (turned > 0).all(0) & (turned < 1).all(0)  # where nothing was clamped, brightness is kept
    assert torch.allclose(turned.mean(0)[inside], some.mean(0)[inside], atol=1e-6)


@pytest.mark.parametrize("seed", range(4))
def test_background_hue_turns_the_background_and_keeps_labels_on_people(seed: int):
    samples = [square_sample(4 + 4 * i, 6 + 5 * i, 12 + 3 * i, ignore_band=i % 2, leg=True) for i in range(4)]
    donors = iter(samples * 4)
    image, labels = compose(samples[0], lambda: next(donors), torch.Generator().manual_seed(seed), background_hue=0.5)
    red = (image - RED).abs().amax(0) < 1e-5
    assert ((labels[0] == 1) | (labels[0] == IGNORE))[red].all()  # no person pixel is labelled background
    assert red[labels[0] == 1].any()  # the pasted people keep their colour
    assert not torch.allclose(image[:, labels[0] == 0], torch.tensor([0.0, 0.0, 1.0])[:, None], atol=0.05)


def test_background_hue_out_of_range_names_the_flag():
    with pytest.raises(UserError, match="--background-hue 0.7"):
        TrainConfig(data="d", composite=0.5, background_hue=0.7).check()


def test_inpaint_removes_the_person_and_labels_the_hole_background():
    image, labels = square_sample(20, 20, 16, ignore_band=2)
    out, new = inpaint((image, labels))
    assert not (new == 1).any() and not (new == IGNORE).any()
    assert ((out - RED).abs().amax(0) > 0.5).all()  # nothing red is left: the fill comes from the blue around it
    assert torch.equal(out[:, :10, :10], image[:, :10, :10])  # far from the hole nothing changes


def test_procedural_backgrounds_are_deterministic_and_all_background():
    a = procedural(S, torch.Generator().manual_seed(3))
    b = procedural(S, torch.Generator().manual_seed(3))
    assert torch.equal(a[0], b[0]) and not a[1].any()
    assert a[0].std() > 0.01


def test_photometric_touches_the_image_only_and_p0_is_identity():
    image, labels = square_sample(20, 20, 16)
    off = AugmentConfig.off()
    x, y = augment_sample(image, labels, off, sample_generator(0, 0, 0))
    assert torch.equal(x, image) and torch.equal(y, labels)
    changed = 0
    for i in range(8):
        on = AugmentConfig(flip=0, scale_min=1, scale_max=1, brightness=0, contrast=0, saturation=0, photometric=1.0)
        x, y = augment_sample(image, labels, on, sample_generator(0, 0, i))
        assert torch.equal(y, labels)
        changed += int(not torch.allclose(x, image, atol=1e-3))
    assert changed == 8


def test_blur_and_jpeg_do_what_they_say():
    image, _ = square_sample(20, 20, 16)
    soft = blur(image, 1.0)
    assert abs(float(soft.mean() - image.mean())) < 1e-3 and soft[0, 28, 20] < 0.9  # the edge softens
    assert 0 < float((jpeg(image, 30) - image).abs().mean()) < 0.1
    grey = photometric(image, 1.0, torch.Generator().manual_seed(1))
    assert grey.shape == image.shape and 0 <= grey.min() and grey.max() <= 1


def test_stream_composites_are_the_same_whichever_process_builds_them(tiny_dataset: Path):
    data = prescan(tiny_dataset, 64)
    cfg = AugmentConfig(composite=1.0, photometric=0.5)
    a, b = StreamDataset(data, cfg, seed=5), StreamDataset(data, cfg, seed=5)
    for index in (0, 3):
        b[(2, (index + 1) % len(b))]  # b's donor cache differs from a's
        xa, ya, _, _ = a[(2, index)]
        xb, yb, _, _ = b[(2, index)]
        assert torch.equal(xa, xb) and torch.equal(ya, yb)
    plain = StreamDataset(data, AugmentConfig(), seed=5)[(2, 0)]
    assert not torch.equal(plain[0], a[(2, 0)][0])  # compositing did something


def test_the_stream_passes_the_background_hue_to_its_composites(tiny_dataset: Path):
    data = prescan(tiny_dataset, 64)
    plain = StreamDataset(data, AugmentConfig(composite=1.0), seed=5)
    turned = StreamDataset(data, AugmentConfig(composite=1.0, background_hue=0.5), seed=5)
    assert any(not torch.equal(plain[(1, i)][0], turned[(1, i)][0]) for i in range(len(plain)))
    assert all(torch.equal(plain[(1, i)][0], plain[(1, i)][0]) for i in range(2))  # and not by chance


def test_train_config_names_a_bad_probability_and_the_card_records_the_recipe():
    with pytest.raises(UserError, match="--composite 1.5"):
        TrainConfig(data="d", composite=1.5).check()
    with pytest.raises(UserError, match="--photometric -0.1"):
        TrainConfig(data="d", photometric=-0.1).check()
    assert TrainConfig(data="d", augment=False, composite=0.5).augmentation() is None
    assert TrainConfig(data="d", composite=0.5, photometric=0.2).augmentation() == AugmentConfig(composite=0.5,
                                                                                                  photometric=0.2)


def test_the_swap_fine_tunes_with_the_seeds_own_augmentation():
    info = ModelInfo(Path("."), "torch", "fp32", "model.safetensors", 64, {"name": "unet"},
                     {"train": {"augment": True, "composite": 0.5, "photometric": 0.3, "background_hue": 0.5,
                                "backgrounds": "scenes"}})
    assert seed_augmentation(info) == AugmentConfig(composite=0.5, photometric=0.3, background_hue=0.5,
                                                    backgrounds="scenes")
    old = ModelInfo(Path("."), "torch", "fp32", "model.safetensors", 64, {"name": "unet"}, {"train": {}})
    assert seed_augmentation(old) == AugmentConfig()

