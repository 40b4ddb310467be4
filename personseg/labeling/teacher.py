"""The teacher interface and a registry of teachers keyed by name.

A teacher is anything with ``probabilities(image) -> HxW float array in [0, 1]`` at the image's
own size. Teachers are registered by a factory so that heavy imports (mediapipe) happen only
when one is actually built.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol, runtime_checkable

import numpy as np
from PIL import Image


@runtime_checkable
class Teacher(Protocol):
    """A segmenter whose confident answers we accept as labels."""

    name: str

    def probabilities(self, image: Image.Image) -> np.ndarray:
        """Person probability per pixel: float32, shape (image.height, image.width), in [0, 1]."""
        ...


def _mediapipe() -> Teacher:
    from personseg.labeling.mediapipe_teacher import MediapipeTeacher

    return MediapipeTeacher()


_TEACHERS: dict[str, Callable[[], Teacher]] = {"mediapipe": _mediapipe}


def teacher_names() -> list[str]:
    """Names accepted by ``get_teacher`` (and ``personseg data label --teacher``)."""
    return sorted(_TEACHERS)


def get_teacher(name: str) -> Teacher:
    """Build the teacher called ``name``; an unknown name raises ``ValueError`` listing the known ones."""
    try:
        factory = _TEACHERS[name]
    except KeyError:
        raise ValueError(f"unknown teacher {name!r}; known: {', '.join(teacher_names())}") from None
    return factory()
