"""Importers: read a public dataset format and yield samples in our layout (``personseg data import``).

Each format is one module with ``read(src, options) -> Source``; ``write.import_dataset`` writes the
samples atomically with a ``dataset.json`` card. A format's name is its key in ``FORMATS``.
"""

from __future__ import annotations

import importlib
from types import ModuleType

FORMATS = ("coco", "voc", "supervisely", "matte")
MATTE_THRESHOLD = 0.5  # alpha at or above this is person (here, so --help can say it without loading a format)


def importer(name: str) -> ModuleType:
    """The module that reads format ``name``; an unknown name lists the known ones."""
    if name not in FORMATS:
        raise ValueError(f"unknown import format {name!r}; known: {', '.join(FORMATS)}")
    return importlib.import_module(f"{__name__}.{name}")
