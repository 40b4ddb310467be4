"""Photometric augmentation: blur, sensor noise, JPEG artefacts and greyscale, on the image only.

Why: real photographs of people come from phones and webcams, with soft focus, noise and heavy JPEG
compression, and some are black and white; the training photos are mostly clean. Each operation is
applied with probability ``p`` (greyscale with ``p / 2``), drawn from the sample's generator, so an
augmented sample is the same on every worker and rank. Labels are never touched.
"""

from __future__ import annotations

import io
import math

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

BLUR_SIGMA = (0.4, 1.5)
NOISE_STD = (0.01, 0.05)
JPEG_QUALITY = (25, 85)


def _roll(gen: torch.Generator, p: float) -> bool:
    return torch.rand(1, generator=gen).item() < p


def uniform(gen: torch.Generator, lo: float, hi: float) -> float:
    """A float in [lo, hi) from ``gen`` (every augmentation draws from the sample's own generator)."""
    return lo + (hi - lo) * torch.rand(1, generator=gen).item()


def randint(gen: torch.Generator, lo: int, hi: int) -> int:
    """An integer in [lo, hi] inclusive from ``gen``."""
    return int(torch.randint(lo, hi + 1, (1,), generator=gen).item())


def blur(image: torch.Tensor, sigma: float) -> torch.Tensor:
    """Gaussian blur of a (3, S, S) image, separable, edges reflected."""
    radius = max(1, int(3 * sigma + 0.5))
    taps = torch.exp(-(torch.arange(-radius, radius + 1, dtype=torch.float32) ** 2) / (2 * sigma**2))
    taps = (taps / taps.sum()).to(image.dtype)
    x = F.pad(image[None], (radius, radius, radius, radius), mode="reflect")
    x = F.conv2d(x, taps.view(1, 1, 1, -1).expand(3, 1, 1, -1), groups=3)
    x = F.conv2d(x, taps.view(1, 1, -1, 1).expand(3, 1, -1, 1), groups=3)
    return x[0]


def jpeg(image: torch.Tensor, quality: int) -> torch.Tensor:
    """The image after a JPEG round trip at ``quality`` (Pillow's encoder, as a phone or browser would)."""
    pixels = (image.permute(1, 2, 0).clamp(0, 1) * 255).round().to(torch.uint8).numpy()
    buf = io.BytesIO()
    Image.fromarray(pixels).save(buf, format="JPEG", quality=quality)
    buf.seek(0)
    with Image.open(buf) as decoded:
        out = np.asarray(decoded.convert("RGB"), dtype=np.float32) / 255.0
    return torch.from_numpy(out).permute(2, 0, 1).contiguous()


def rotate_hue(image: torch.Tensor, turns: float) -> torch.Tensor:
    """``image`` (3, H, W) with its colours turned by ``turns`` of the colour wheel, greys unchanged.

    A rotation of RGB space about the grey axis (Rodrigues' formula): a third of a turn maps red to
    green to blue exactly, and a pixel's mean (its brightness) stays the same. Clamped to [0, 1].
    """
    angle = 2 * math.pi * turns
    c, s = math.cos(angle), math.sin(angle)
    cross = torch.tensor([[0.0, -1.0, 1.0], [1.0, 0.0, -1.0], [-1.0, 1.0, 0.0]]) / math.sqrt(3)
    rotation = c * torch.eye(3) + s * cross + (1 - c) / 3 * torch.ones(3, 3)
    return torch.einsum("ij,jhw->ihw", rotation.to(image.dtype), image).clamp(0, 1)


def photometric(image: torch.Tensor, p: float, gen: torch.Generator) -> torch.Tensor:
    """``image`` (3, S, S) in [0, 1] after each operation that its roll selects (module docstring)."""
    if p <= 0:
        return image
    if _roll(gen, p / 2):
        image = image.mean(dim=0, keepdim=True).expand(3, -1, -1).contiguous()
    if _roll(gen, p):
        image = blur(image, uniform(gen, *BLUR_SIGMA))
    if _roll(gen, p):
        image = image + torch.randn(image.shape, generator=gen) * uniform(gen, *NOISE_STD)
    if _roll(gen, p):
        image = jpeg(image, int(uniform(gen, *JPEG_QUALITY)))
    return image.clamp(0, 1)
