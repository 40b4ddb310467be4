"""Calibration (train split) and tuning (val, then train) images for INT8; never the test split."""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass

import numpy as np

from personseg.data.loading import LoadedData
from personseg.data.prescan import SampleSet
from personseg.data.split import Split
from personseg.errors import UserError

log = logging.getLogger(__name__)


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
SEED = 0  # the calibration sample's; quantize and the runtimes it feeds draw the same images


@dataclass(frozen=True)
class QuantSets:
    """Calibration images (train only) and tuning images (val first), with where each came from."""

    calibration: SampleSet | LoadedData
    tune: SampleSet | LoadedData
    sizes: dict[str, int]


def choose(data: SampleSet | LoadedData, split: Split, count: int, seed: int = SEED) -> QuantSets:
    """Calibrate on ``count`` training images drawn at random (seeded); tune on val, then other training images.

    Both are selection sets, so test is never read. A random sample, not the first ids, so a large
    dataset does not calibrate on its first few people. Calibration and tuning (where agreement with
    FP32 is measured) stay disjoint when the data allows: calibration gives up images, down to
    ``MIN_CALIBRATION``, until tuning has ``MIN_TUNE``. Only when train and val together hold fewer than
    ``MIN_CALIBRATION + MIN_TUNE`` do calibration images fill tuning up to its floor, which flatters
    agreement; that is logged and counted in ``sizes["tune_overlap_with_calibration"]``.
    """
    if count < MIN_CALIBRATION:
        raise UserError(f"--calibration {count}: must be >= {MIN_CALIBRATION}")
    train, val = sorted(split.train), sorted(split.val)
    if len(train) < MIN_CALIBRATION:
        raise UserError(f"calibration: the training split has {len(train)} image(s); need at least "
                        f"{MIN_CALIBRATION}")
    shuffled = [str(i) for i in np.random.default_rng(seed).permutation(train)]
    n = min(count, len(train), max(MIN_CALIBRATION, len(train) + len(val) - MIN_TUNE))
    if n < min(count, len(train)):
        log.info("quantize: calibrating on %d training images, not %d, to keep tuning images apart from them",
                 n, min(count, len(train)))
    calib = sorted(shuffled[:n])
    tune = (val + sorted(shuffled[n:]))[:MAX_TUNE]
    overlap = calib[: max(0, MIN_TUNE - len(tune))]
    if overlap:
        log.warning("quantize: train and val hold %d image(s), under %d: %d calibration image(s) also tune and "
                    "measure agreement, which flatters it", len(train) + len(val), MIN_CALIBRATION + MIN_TUNE,
                    len(overlap))
    from_val = sum(1 for i in tune if i in set(val))
    sizes = {"calibration": len(calib), "tune": len(tune) + len(overlap), "tune_from_val": from_val,
             "tune_from_train": len(tune) - from_val, "tune_overlap_with_calibration": len(overlap)}
    return QuantSets(data.subset(calib), data.subset(tune + overlap), sizes)


def calibration_sha256(data: SampleSet | LoadedData, dataset_sha256: str) -> str:
    """Names exactly which images calibrated a model: dataset hash plus the sorted ids used."""
    digest = hashlib.sha256(dataset_sha256.encode())
    for i in sorted(data.ids):
        digest.update(b"\0" + i.encode())
    return digest.hexdigest()
