"""Calibration (train split) and tuning (val, then train) images for INT8; never the test split."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np

from personseg.data.loading import LoadedData
from personseg.data.prescan import SampleSet
from personseg.data.split import Split
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


MIN_CALIBRATION = 8
MIN_TUNE = 8
MAX_TUNE = 32


@dataclass(frozen=True)
class QuantSets:
    """Calibration images (train only) and tuning images (val first), with where each came from."""

    calibration: SampleSet | LoadedData
    tune: SampleSet | LoadedData
    sizes: dict[str, int]


def choose(data: SampleSet | LoadedData, split: Split, count: int) -> QuantSets:
    """Calibrate on ``count`` training images; tune on val, then the other training images.

    Both are selection sets, so test is never read. Calibration takes the first ``count`` training ids
    by sorted id (reproducible, independent of load order). When val plus the uncalibrated training
    images are under ``MIN_TUNE``, calibration images fill the tuning set up to the floor (counted
    in ``sizes["tune_overlap_with_calibration"]``): a small overlap beats tuning on one image.
    """
    if count < MIN_CALIBRATION:
        raise UserError(f"--calibration {count}: must be >= {MIN_CALIBRATION}")
    train = sorted(split.train)
    if len(train) < MIN_CALIBRATION:
        raise UserError(f"calibration: the training split has {len(train)} image(s); need at least "
                        f"{MIN_CALIBRATION}")
    calib = train[:count]
    tune = (sorted(split.val) + train[count:])[:MAX_TUNE]
    overlap = calib[: max(0, MIN_TUNE - len(tune))]
    if len(tune) + len(overlap) < MIN_TUNE:
        raise UserError(f"quantize: train and val hold {len(set(train) | set(split.val))} image(s); tuning needs "
                        f"at least {MIN_TUNE}")
    val = set(split.val)
    from_val = sum(1 for i in tune if i in val)
    sizes = {"calibration": len(calib), "tune": len(tune) + len(overlap), "tune_from_val": from_val,
             "tune_from_train": len(tune) - from_val, "tune_overlap_with_calibration": len(overlap)}
    return QuantSets(data.subset(calib), data.subset(tune + overlap), sizes)


def calibration_sha256(data: SampleSet | LoadedData, dataset_sha256: str) -> str:
    """Names exactly which images calibrated a model: dataset hash plus the sorted ids used."""
    digest = hashlib.sha256(dataset_sha256.encode())
    for i in sorted(data.ids):
        digest.update(b"\0" + i.encode())
    return digest.hexdigest()
