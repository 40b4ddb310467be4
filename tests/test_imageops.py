"""Decoding and mapping back: transparency meets the padding grey, masks map back rounded."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from personseg.imageops import PAD_VALUE, fit_box, to_input, to_rgb8, unletterbox


@pytest.mark.parametrize("mode", ["RGBA", "LA", "PA"])
def test_transparency_is_composited_onto_the_padding_grey(mode: str) -> None:
    red = Image.new("RGBA", (4, 2), (255, 0, 0, 0))  # fully transparent red: alpha says "nothing here"
    red.putpixel((0, 0), (255, 0, 0, 255))  # one opaque pixel
    red.putpixel((1, 0), (255, 0, 0, 128))  # one half-transparent pixel
    image = red if mode == "RGBA" else red.convert(mode)
    rgb = np.asarray(to_rgb8(image), dtype=int)
    opaque = (255, 0, 0) if mode != "LA" else (76, 76, 76)  # LA is grey: red's luminance
    assert tuple(rgb[0, 0]) == opaque
    assert tuple(rgb[1, 1]) == (PAD_VALUE,) * 3  # transparent: the letterbox grey, not the hidden colour
    half = [round((o * 128 + PAD_VALUE * 127) / 255) for o in opaque]
    assert np.abs(rgb[0, 1] - half).max() <= 1
    # the model input sees the same grey as the letterbox padding around it
    tensor, box = to_input(image, 16)
    assert np.allclose(tensor[:, box.top + box.height - 1, box.left + box.width - 1], PAD_VALUE / 255, atol=1 / 255)


def test_a_transparent_palette_colour_is_composited_too() -> None:
    image = Image.new("P", (2, 1))
    image.putpalette([255, 0, 0, 0, 255, 0])
    image.putpixel((1, 0), 1)
    image.info["transparency"] = 1  # palette index 1 (green) is transparent
    assert np.asarray(to_rgb8(image)).tolist() == [[[255, 0, 0], [PAD_VALUE] * 3]]


@pytest.mark.parametrize("p", [0.999, 0.5, 0.3337, 0.0013])
def test_unletterbox_rounds_the_probability_it_maps_back(p: float) -> None:
    box = fit_box(8, 8, 8)
    back = unletterbox(np.full((8, 8), p, np.float32), box, 8, 8)
    assert np.abs(back - p).max() <= 0.5 / 255 + 1e-6  # truncation was off by up to 1/255, always downwards


@pytest.mark.parametrize("size", [(40, 30), (30, 40), (16, 16), (7, 7)])
def test_the_model_input_is_the_letterboxed_picture_over_255_in_float32(size: tuple[int, int]) -> None:
    rng = np.random.default_rng(0)
    image = Image.fromarray(rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8))
    tensor, box = to_input(image, 16)
    canvas = Image.new("RGB", (16, 16), (PAD_VALUE,) * 3)
    canvas.paste(image.resize((box.width, box.height), Image.BILINEAR), (box.left, box.top))
    expected = np.asarray(canvas, dtype=np.float32).transpose(2, 0, 1) / np.float32(255.0)
    assert tensor.dtype == np.float32 and tensor.flags["C_CONTIGUOUS"] and tensor.shape == (3, 16, 16)
    assert np.array_equal(tensor, expected)  # bit for bit: what training and evaluation fed the model
