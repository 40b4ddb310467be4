"""Calibration data: training-split images only (never the evaluation split), hashed for the model card."""

from __future__ import annotations

import hashlib

import numpy as np

from personseg.data.loading import LoadedData
from personseg.errors import UserError


class CalibrationReader:
    """The data reader INC and ONNX Runtime calibrate with: ``get_next()`` a feed dict, ``rewind()``."""

    def __init__(self, images: np.ndarray, batch_size: int = 8, input_name: str = "input") -> None:
        self.images = images
        self.batch_size = batch_size
        self.input_name = input_name
        self.position = 0

    def get_next(self) -> dict[str, np.ndarray] | None:
        """The next batch, or None at the end."""
        if self.position >= len(self.images):
            return None
        batch = self.images[self.position : self.position + self.batch_size]
        self.position += self.batch_size
        return {self.input_name: batch}

    def rewind(self) -> None:
        """Start again from the first batch (INC calls this before every trial)."""
        self.position = 0

    def __iter__(self) -> CalibrationReader:
        return self

    def __next__(self) -> dict[str, np.ndarray]:
        item = self.get_next()
        if item is None:
            raise StopIteration
        return item


def as_inputs(data: LoadedData) -> np.ndarray:
    """(N, 3, S, S) float32 in [0, 1], the models' input."""
    return np.ascontiguousarray(data.images.transpose(0, 3, 1, 2), dtype=np.float32) / np.float32(255.0)


def choose(train: LoadedData, count: int) -> tuple[LoadedData, LoadedData]:
    """Split training data into ``count`` calibration images and the rest (used to tune against).

    The choice is by sorted id so it is reproducible and independent of load order.
    """
    if count < 1:
        raise UserError(f"--calibration {count}: must be >= 1")
    if len(train.ids) < 2:
        raise UserError(f"calibration: the training split has {len(train.ids)} image(s); need at least 2")
    ids = sorted(train.ids)
    count = min(count, len(ids) - 1)
    calib, rest = ids[:count], ids[count:]
    return train.subset(calib), train.subset(rest)


def calibration_sha256(data: LoadedData, dataset_sha256: str) -> str:
    """Names exactly which images calibrated a model: dataset hash plus the sorted ids used."""
    digest = hashlib.sha256(dataset_sha256.encode())
    for i in sorted(data.ids):
        digest.update(b"\0" + i.encode())
    return digest.hexdigest()
