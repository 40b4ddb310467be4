"""MediaPipe selfie segmentation (Apache-2.0) as a teacher, run on CPU.

The model takes a 256x256 input and squashes whatever it is given, so the picture is letterboxed
to 256 first and the probabilities are mapped back: people keep their proportions.
"""

from __future__ import annotations

import numpy as np
from PIL import Image

from personseg.errors import UserError
from personseg.imageops import letterbox, unletterbox

MODEL_SIZE = 256
TEACHER_VENV = ".venv-teacher"
# mediapipe 0.10.21 (bundled selfie model, numpy<2) needs protobuf<5 while kfp needs protobuf>=6, so the
# teacher lives in its own environment, made from the project's `label` extra by `make teacher`.
INSTALL_HINT = (
    f"run `make teacher` in the personseg checkout (it installs the `label` extra into {TEACHER_VENV}: "
    f"mediapipe needs protobuf<5, which the pipeline's kfp cannot share), then "
    f"`{TEACHER_VENV}/bin/personseg data label --teacher mediapipe SRC OUT`"
)


class MediapipeTeacher:
    """``mp.solutions.selfie_segmentation`` with the general (256x256) model."""

    name = "mediapipe"

    def __init__(self) -> None:
        try:
            import mediapipe as mp
        except ImportError as exc:
            raise UserError(f"teacher mediapipe: cannot import mediapipe ({exc}); {INSTALL_HINT}") from None
        self.version = getattr(mp, "__version__", "unknown")
        self.model = "selfie_segmentation (general, model_selection=0)"
        self._seg = mp.solutions.selfie_segmentation.SelfieSegmentation(model_selection=0)

    def probabilities(self, image: Image.Image) -> np.ndarray:
        """Person probability per pixel at the image's own size."""
        rgb = image.convert("RGB")
        boxed, box = letterbox(rgb, MODEL_SIZE)
        result = self._seg.process(np.ascontiguousarray(np.asarray(boxed, dtype=np.uint8)))
        prob = np.clip(np.asarray(result.segmentation_mask, dtype=np.float32), 0.0, 1.0)
        if (rgb.width, rgb.height) == (MODEL_SIZE, MODEL_SIZE):
            return prob
        return unletterbox(prob, box, rgb.width, rgb.height)

    def close(self) -> None:
        """Release the MediaPipe graph."""
        self._seg.close()
