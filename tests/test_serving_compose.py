"""Clean cutouts: alpha is 0 or 255 away from the mask's edge, soft in a narrow band, and cuts where the mask does."""

import numpy as np
import pytest
from PIL import Image

from personseg.serving import compose
from personseg.serving.errors import RequestError


def _unsure_disc(width: int = 96, height: int = 72) -> np.ndarray:
    """A model that is never sure: 0.3 on the background, 0.8 on a disc, a smooth ramp between."""
    y, x = np.mgrid[0:height, 0:width]
    r = np.hypot(x - 40, y - 36)
    return np.clip(0.8 - (r - 20) * 0.05, 0.3, 0.8).astype(np.float32)


def _near_edge(mask: np.ndarray, reach: int) -> np.ndarray:
    """Pixels within ``reach`` (in x and y) of a pixel of the other class."""
    h, w = mask.shape
    near = np.zeros_like(mask)
    padded = np.pad(mask, reach, mode="edge")
    for dy in range(2 * reach + 1):
        for dx in range(2 * reach + 1):
            near |= padded[dy:dy + h, dx:dx + w] != mask
    return near


def test_clean_alpha_is_hard_outside_the_feather_band_and_thresholds_to_the_mask():
    prob = _unsure_disc()
    alpha = np.asarray(compose.clean_alpha(prob))
    mask = prob > compose.THRESHOLD
    band = _near_edge(mask, compose.FEATHER_PX)
    assert band.any() and not band.all()
    assert (alpha[~band & mask] == 255).all() and (alpha[~band & ~mask] == 0).all()
    soft = (alpha > 0) & (alpha < 255)
    assert soft[band].mean() > 0.5  # the edge really is feathered
    np.testing.assert_array_equal(alpha >= 128, mask)


def test_mask_is_binary_and_probability_keeps_the_model_output():
    prob = _unsure_disc()
    mask = np.asarray(compose.mask_image(prob))
    assert set(np.unique(mask)) == {0, 255}
    np.testing.assert_array_equal(mask == 255, prob > 0.5)
    np.testing.assert_array_equal(np.asarray(compose.probability_image(prob)), np.rint(prob * 255).astype(np.uint8))


def test_cutout_and_composite_remove_an_unsure_background_unless_alpha_soft():
    prob = _unsure_disc()
    image = Image.new("RGB", (96, 72), (10, 200, 30))
    far_bg = ~_near_edge(prob > 0.5, 4) & (prob <= 0.5)
    cut = np.asarray(compose.cutout(image, prob))
    assert (cut[..., 3][far_bg] == 0).all()
    comp = np.asarray(compose.composite(image, prob, (255, 0, 255)))
    assert (comp[far_bg] == (255, 0, 255)).all()
    soft = np.asarray(compose.cutout(image, prob, "soft"))[..., 3]
    assert (soft[far_bg] == 76).all()  # 0.3 x 255: the probability as alpha leaves the background showing


def test_cutout_keeps_the_inputs_own_transparency():
    prob = np.ones((8, 8), np.float32)
    image = Image.new("RGBA", (8, 8), (1, 2, 3, 100))
    assert np.asarray(compose.cutout(image, prob))[..., 3].tolist() == [[100] * 8] * 8


@pytest.mark.parametrize("value, output, words", [
    ("fuzzy", "cutout", "alpha='fuzzy': expected one of clean, soft"),
    ("soft", "mask", "only used with output=cutout or output=composite"),
])
def test_alpha_parameter_is_checked(value, output, words):
    with pytest.raises(RequestError, match=words):
        compose.parse_alpha(value, output)
    assert compose.parse_alpha(None, "mask") == "clean"
