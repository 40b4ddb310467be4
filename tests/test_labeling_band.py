import numpy as np
import pytest

from personseg.errors import UserError
from personseg.labeling.band import Band, apply_band


def test_band_splits_person_background_and_ignore_at_the_thresholds():
    prob = np.array([[0.0, 0.3, 0.31, 0.5, 0.69, 0.7, 1.0]], dtype=np.float32)
    mask, ignore = apply_band(prob, Band(0.3, 0.7))
    assert mask.dtype == np.uint8 and ignore.dtype == np.uint8
    assert mask.tolist() == [[0, 0, 0, 0, 0, 255, 255]]
    assert ignore.tolist() == [[0, 0, 255, 255, 255, 0, 0]]


def test_equal_low_and_high_is_a_plain_threshold_with_no_ignore():
    prob = np.linspace(0, 1, 101, dtype=np.float32).reshape(1, -1)
    mask, ignore = apply_band(prob, Band(0.5, 0.5))
    assert not ignore.any()
    assert (mask[0] > 0).tolist() == (prob[0] >= 0.5).tolist()


def test_mask_and_ignore_never_overlap_and_cover_only_confident_pixels():
    prob = np.random.default_rng(0).random((64, 48), dtype=np.float32)
    mask, ignore = apply_band(prob, Band(0.2, 0.9))
    assert mask.shape == ignore.shape == prob.shape
    assert not ((mask > 0) & (ignore > 0)).any()
    background = (mask == 0) & (ignore == 0)
    assert (prob[mask > 0] >= 0.9).all()
    assert (prob[background] <= 0.2).all()
    assert ((prob[ignore > 0] > 0.2) & (prob[ignore > 0] < 0.9)).all()
    assert set(np.unique(mask)) <= {0, 255} and set(np.unique(ignore)) <= {0, 255}


@pytest.mark.parametrize("low,high", [(0.7, 0.3), (-0.1, 0.5), (0.2, 1.5)])
def test_bad_band_names_the_flags(low, high):
    with pytest.raises(UserError, match=r"--low .* --high"):
        Band(low, high)


@pytest.mark.parametrize("prob", [np.full((4, 4), 1.5), np.full((4, 4), np.nan), np.zeros((2, 4, 4))])
def test_probabilities_outside_0_1_or_not_2d_are_rejected(prob):
    with pytest.raises(ValueError):
        apply_band(prob, Band())
