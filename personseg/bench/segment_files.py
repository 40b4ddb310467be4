"""``personseg segment`` against the bare model, the pieces of ``benchmarks/segment_files.py``.

Photos of a chosen size made from the committed real photographs, and the runtime's own images/s on
ready batches (what segmenting a folder is compared with).
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
from PIL import Image

from personseg.labeling.committed import datasets_root
from personseg.segment.engine import LocalEngine


def write_photos(folder: Path, count: int, size: tuple[int, int]) -> None:
    """``count`` JPEGs of ``size`` made from the committed real photographs."""
    photos = sorted((datasets_root() / "real" / "images").glob("*.jpg"))
    for i in range(count):
        with Image.open(photos[i % len(photos)]) as im:
            im.convert("RGB").resize(size, Image.BILINEAR).save(folder / f"{i:04d}.jpg", quality=90)


def bare_model(engine: LocalEngine, count: int) -> float:
    """Images/s of the runtime alone on ``count`` images in the model's batches."""
    size = engine.model.image_size
    batch = np.random.default_rng(0).random((engine.batch_size, 3, size, size), dtype=np.float32)
    start = time.perf_counter()
    for done in range(0, count, engine.batch_size):
        engine.model.predict(batch[: min(engine.batch_size, count - done)])
    return count / (time.perf_counter() - start)
