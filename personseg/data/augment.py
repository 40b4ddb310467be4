"""Training augmentation of one sample at a time: flip, scale-crop, colour jitter and photometric noise.

Copy-paste compositing (``composite``) needs other samples, so ``personseg.data.stream`` does it
before these; ``photometric`` (blur, noise, JPEG, greyscale) is ``personseg.data.photometric``.

Geometric transforms are applied to the image and its labels together (labels with nearest sampling
so ignore pixels stay exact); colour jitter touches the image only. Each sample draws from its own
Generator seeded by (seed, epoch, sample index), so an augmented sample is the same whichever data
loader worker or training rank produces it, and a resumed run sees the same samples as an unbroken one.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from personseg.data import IGNORE
from personseg.data.photometric import photometric


@dataclass(frozen=True)
class AugmentConfig:
    """Strength of each augmentation; zero disables it."""

    flip: float = 0.5
    scale_min: float = 0.75
    scale_max: float = 1.25
    brightness: float = 0.25
    contrast: float = 0.25
    saturation: float = 0.25
    composite: float = 0.0  # probability that a sample becomes a copy-paste composite
    background_hue: float = 0.0  # largest turn of a composite's background colours (fraction of the wheel)
    backgrounds: str = ""  # photos with nobody in them for composites: "", "scenes" or a folder (data.scenes)
    photometric: float = 0.0  # probability of each of blur, noise, JPEG (greyscale: half of it)

    def check(self) -> None:
        """Probabilities must be probabilities (named by their flag)."""
        for name in ("composite", "photometric"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"--{name} {getattr(self, name)}: must be between 0 and 1")
        if not 0.0 <= self.background_hue <= 0.5:
            raise ValueError(f"--background-hue {self.background_hue}: must be between 0 and 0.5 (0.5: any hue)")
        if self.backgrounds and not self.composite:
            raise ValueError(f"--backgrounds {self.backgrounds}: used only by composites; set --composite above 0")

    @classmethod
    def off(cls) -> AugmentConfig:
        """No augmentation at all (the sample passes through unchanged)."""
        return cls(flip=0, scale_min=1, scale_max=1, brightness=0, contrast=0, saturation=0)


def sample_generator(seed: int, epoch: int, index: int, *stream: int) -> torch.Generator:
    """The Generator of one sample in one epoch: independent of workers, ranks and batch order.

    ``stream`` names another sequence of the same (seed, epoch), e.g. the epoch's donor pool.
    """
    state = np.random.SeedSequence([seed & 0xFFFFFFFF, epoch, index, *stream]).generate_state(2, np.uint32)
    return torch.Generator().manual_seed(int(state[0]) << 32 | int(state[1]))


def augment_sample(
    image: torch.Tensor, labels: torch.Tensor, cfg: AugmentConfig, gen: torch.Generator
) -> tuple[torch.Tensor, torch.Tensor]:
    """Augment one sample: image (3, S, S) float in [0, 1], labels (1, S, S) uint8."""
    s = image.shape[-1]
    if torch.rand(1, generator=gen).item() < cfg.flip:
        image, labels = image.flip(2), labels.flip(2)
    if cfg.scale_max > cfg.scale_min or cfg.scale_min != 1.0:
        scale = cfg.scale_min + (cfg.scale_max - cfg.scale_min) * torch.rand(1, generator=gen).item()
        shift = (torch.rand(2, generator=gen) * 2 - 1) * max(0.0, 1 - 1 / scale)
        theta = torch.tensor([[[1 / scale, 0.0, shift[0]], [0.0, 1 / scale, shift[1]]]])
        grid = F.affine_grid(theta, [1, 1, s, s], align_corners=False)
        image = F.grid_sample(image[None], grid, mode="bilinear", padding_mode="reflection", align_corners=False)[0]
        # zoom-out reflects image content, so labels are mirrored too (nearest: IGNORE stays exactly IGNORE)
        labels = F.grid_sample(labels[None].float(), grid, mode="nearest", padding_mode="reflection",
                               align_corners=False)[0]
        labels = labels.round().clamp(0, IGNORE).to(torch.uint8)
    b, c, sat = (1 + (torch.rand(3, generator=gen) * 2 - 1) * torch.tensor([cfg.brightness, cfg.contrast,
                                                                              cfg.saturation])).tolist()
    grey = image.mean(dim=0, keepdim=True)
    image = grey + (image - grey) * sat
    mean = image.mean()
    image = ((image - mean) * c + mean) * b
    return photometric(image.clamp(0, 1), cfg.photometric, gen), labels
