"""Which way to round each int8 weight of a convolution, chosen for the inputs it will see.

Rounding every weight to its nearest step minimises each weight's error, not the output's: the output
error of one output channel is ``e . x`` for the weights' error ``e`` and an input patch ``x``, so its mean
square over the calibration patches is ``e' M e`` with ``M`` the patches' second moment. Its mean part,
``e . mean``, is a constant shift that the bias takes back; what the bias cannot take back is
``e' C e`` with ``C`` the patches' covariance. Choosing, for each weight, its floor or its ceiling step so
that ``e' C e`` is smallest is the layer-wise objective of adaptive rounding (Nagel et al., "Up or Down?
Adaptive Rounding for Post-Training Quantization", ICML 2020); for one convolution it is a small quadratic
over 0/1 choices, solved here by greedy single flips from nearest rounding (each flip lowers it).

Used for the convolution that reads the image: its 27 inputs per output channel (3x3 pixels of 3 colours)
are strongly correlated and all positive, so the errors of nearest rounding do not cancel.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class ConvGeometry:
    """The sliding window of a 2-D convolution with one group, as ONNX's Conv attributes give it."""

    kernel: tuple[int, int]
    strides: tuple[int, int] = (1, 1)
    pads: tuple[int, int, int, int] = (0, 0, 0, 0)  # top, left, bottom, right
    dilations: tuple[int, int] = (1, 1)


@dataclass(frozen=True)
class PatchMoments:
    """Mean and covariance of a convolution's input patches, flattened as its weights are (channel, row, column)."""

    mean: np.ndarray  # (K,)
    covariance: np.ndarray  # (K, K)


def _patches(image: np.ndarray, geometry: ConvGeometry) -> np.ndarray:
    """Every input window of ``image`` (C, H, W) as a row: (positions, C * kh * kw)."""
    (kh, kw), (sh, sw), (pt, pl, pb, pr), (dh, dw) = (geometry.kernel, geometry.strides, geometry.pads,
                                                       geometry.dilations)
    padded = np.pad(image.astype(np.float64), ((0, 0), (pt, pb), (pl, pr)))
    out_h = (padded.shape[1] - dh * (kh - 1) - 1) // sh + 1
    out_w = (padded.shape[2] - dw * (kw - 1) - 1) // sw + 1
    columns = [padded[c, i * dh: i * dh + sh * (out_h - 1) + 1: sh, j * dw: j * dw + sw * (out_w - 1) + 1: sw]
               for c in range(image.shape[0]) for i in range(kh) for j in range(kw)]
    return np.stack(columns, axis=-1).reshape(-1, len(columns))


def patch_moments(images: np.ndarray, geometry: ConvGeometry) -> PatchMoments:
    """The mean and covariance of the input patches of ``images`` (N, C, H, W), accumulated image by image."""
    count, total, outer = 0, None, None
    for image in images:
        rows = _patches(image, geometry)
        count += rows.shape[0]
        total = rows.sum(axis=0) if total is None else total + rows.sum(axis=0)
        outer = rows.T @ rows if outer is None else outer + rows.T @ rows
    if total is None or outer is None:
        raise ValueError("patch_moments needs at least one image")
    mean = total / count
    return PatchMoments(mean, outer / count - np.outer(mean, mean))


def round_for_inputs(weight: np.ndarray, scale: np.ndarray, qmax: int, covariance: np.ndarray) -> np.ndarray:
    """int8 steps of ``weight`` (Cout, ...) at per-channel ``scale``, each its floor or ceiling, for ``covariance``.

    Starts from nearest rounding and flips the one weight whose flip lowers ``e' C e`` most, until none does;
    steps stay within [-qmax, qmax]. Returns the steps with ``weight``'s shape.
    """
    rows = weight.reshape(weight.shape[0], -1).astype(np.float64)
    diagonal = np.diag(covariance)
    steps = np.empty_like(rows)
    for channel, (row, step) in enumerate(zip(rows, scale.astype(np.float64))):
        target = row / step
        low = np.clip(np.floor(target), -qmax, qmax)
        high = np.clip(np.ceil(target), -qmax, qmax)
        q = np.clip(np.round(target), -qmax, qmax)
        gradient = covariance @ ((q - target) * step)  # C e
        for _ in range(4 * row.size):  # each flip lowers the objective; the bound only guards float ties
            direction = np.where(q == low, high - low, low - high)  # +1, -1, or 0 where floor == ceiling
            change = 2 * step * direction * gradient + (step * direction) ** 2 * diagonal
            best = int(np.argmin(change))
            if change[best] >= -1e-15 * step * step:
                break
            q[best] += direction[best]
            gradient += covariance[:, best] * step * direction[best]
        steps[channel] = q
    return steps.reshape(weight.shape)
