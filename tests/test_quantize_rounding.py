"""Rounding each weight for the inputs it will see: the patches' moments, and flips that lower the output error."""

from __future__ import annotations

import numpy as np
import pytest

from personseg.quantize.rounding import ConvGeometry, patch_moments, round_for_inputs


def test_patches_follow_onnx_padding_strides_and_dilations() -> None:
    rng = np.random.default_rng(0)
    images = rng.random((2, 2, 7, 6))
    for geometry in (ConvGeometry((3, 3), pads=(1, 1, 1, 1)), ConvGeometry((3, 2), strides=(2, 1), pads=(0, 1, 1, 0)),
                     ConvGeometry((2, 2), dilations=(2, 3))):
        (kh, kw), (sh, sw), (pt, pl, pb, pr), (dh, dw) = geometry.kernel, geometry.strides, geometry.pads, \
            geometry.dilations
        padded = np.pad(images, ((0, 0), (0, 0), (pt, pb), (pl, pr)))
        rows = []
        for n in range(len(images)):  # the windows a convolution reads, one by one
            for y in range(0, padded.shape[2] - dh * (kh - 1), sh):
                for x in range(0, padded.shape[3] - dw * (kw - 1), sw):
                    rows.append(padded[n, :, y: y + dh * (kh - 1) + 1: dh, x: x + dw * (kw - 1) + 1: dw].ravel())
        rows = np.array(rows)
        moments = patch_moments(images, geometry)
        assert np.allclose(moments.mean, rows.mean(axis=0))
        assert np.allclose(moments.covariance, np.cov(rows, rowvar=False, bias=True))


def test_rounding_stays_on_the_neighbouring_steps_and_never_does_worse_than_nearest() -> None:
    rng = np.random.default_rng(1)
    weight = rng.normal(0, 0.2, (8, 3, 3, 3)).astype(np.float32)
    scale = (np.abs(weight.reshape(8, -1)).max(axis=1) / 127).astype(np.float32)
    mixing = rng.random((27, 27)) + np.eye(27) * 0.1  # correlated, all-positive inputs, as pixels are
    covariance = mixing @ mixing.T / 27
    q = round_for_inputs(weight, scale, 127, covariance)
    steps = weight / scale.reshape(-1, 1, 1, 1)
    assert q.shape == weight.shape and np.abs(q).max() <= 127
    assert np.all((q == np.floor(steps)) | (q == np.ceil(steps)))
    nearest = np.round(steps)

    def spread(s: np.ndarray) -> np.ndarray:
        e = ((s - steps) * scale.reshape(-1, 1, 1, 1)).reshape(8, -1)
        return np.einsum("ck,kl,cl->c", e, covariance, e)

    assert np.all(spread(q) <= spread(nearest) + 1e-12)
    assert spread(q).sum() < 0.5 * spread(nearest).sum()


def test_uncorrelated_equal_inputs_keep_nearest_rounding_and_the_range_is_kept() -> None:
    rng = np.random.default_rng(2)
    weight = rng.normal(0, 1, (4, 5)).astype(np.float32)
    scale = (np.abs(weight).max(axis=1) / 63).astype(np.float32)
    q = round_for_inputs(weight, scale, 63, np.eye(5))
    assert np.array_equal(q, np.round(weight / scale[:, None]))  # each weight alone: nearest is best
    assert np.abs(q).max() == 63


def test_moments_need_an_image() -> None:
    with pytest.raises(ValueError, match="at least one image"):
        patch_moments(np.zeros((0, 3, 4, 4)), ConvGeometry((3, 3)))
