"""What a training run is: the one set of training defaults, shared by ``personseg train`` and the pipeline.

Light on purpose (no torch at import): the CLI reads its flags' defaults from here when it builds its
parser, and the pipeline its parameters' defaults. They are the pipeline's measured demo recipe (docs/results.md,
"Real photographs"): width 16 at 128 px for 15 epochs, half the training samples composited.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from personseg.errors import UserError

if TYPE_CHECKING:
    from personseg.data.augment import AugmentConfig

# TrainConfig fields that do not change the weights: where the data sits, and how the work is spread.
NOT_RECIPE = ("data", "threads", "workers", "device", "nproc", "dist_timeout")


@dataclass(frozen=True)
class TrainConfig:
    """Everything that determines a training run; printed into config.json for reproduction.

    ``threads`` 0: the CPU quota shared by the ranks on this machine; ``workers`` -1: what the quota
    has left after the ranks' threads (0 = load in the training process).
    """

    data: str
    model: str = "unet"
    decoder: str = "bilinear"
    width: int = 16
    size: int = 128
    epochs: int = 15
    batch_size: int = 8
    lr: float = 1e-3
    weight_decay: float = 1e-4
    seed: int = 0
    augment: bool = True
    composite: float = 0.5
    photometric: float = 0.0
    background_hue: float = 0.0
    backgrounds: str = ""
    skip_invalid: bool = False
    threads: int = 0
    workers: int = -1
    device: str = "auto"
    precision: str = "fp32"
    nproc: int = 1
    dist_timeout: float = 300.0

    def check(self) -> None:
        """Reject values that cannot work, naming the flag."""
        if self.size < 16 or self.size % 16:
            raise UserError(f"--size {self.size}: must be a positive multiple of 16 (the U-Net halves it 4 times)")
        for name in ("width", "epochs", "batch_size", "nproc"):
            if getattr(self, name) < 1:
                raise UserError(f"--{name.replace('_', '-')} {getattr(self, name)}: must be >= 1")
        if self.lr <= 0:
            raise UserError(f"--lr {self.lr}: must be positive")
        if self.workers < -1:
            raise UserError(f"--workers {self.workers}: must be >= 0 (or -1 for the default)")
        if self.dist_timeout <= 0:
            raise UserError(f"--dist-timeout {self.dist_timeout}: must be positive (seconds)")
        try:
            augment = self.augmentation()
        except ValueError as exc:
            raise UserError(str(exc)) from None
        if augment is not None:
            from personseg.data.scenes import check_backgrounds

            check_backgrounds(augment.backgrounds)  # a bad folder or photo fails here, before any rank starts

    def recipe(self) -> dict[str, Any]:
        """The settings that shape the weights: a run resumed from a state must share them."""
        return {k: v for k, v in dataclasses.asdict(self).items() if k not in NOT_RECIPE}

    def augmentation(self) -> AugmentConfig | None:
        """What each training sample goes through (None: nothing, ``--no-augment``)."""
        if not self.augment:
            return None
        from personseg.data.augment import AugmentConfig

        cfg = AugmentConfig(composite=self.composite, photometric=self.photometric, background_hue=self.background_hue,
                            backgrounds=self.backgrounds)
        cfg.check()
        return cfg
