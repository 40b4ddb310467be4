"""Check every sample's files by their headers before training, without decoding pixels.

Streaming training decodes each sample only when a batch needs it, so a bad file would otherwise
surface mid-epoch. Pillow reads only the header on open: unreadable files, size mismatches between
image, mask and ignore map, and layout problems are all found here in seconds, named by file, and
either refused or (``skip_invalid``) dropped with a counted warning, as ``load_dataset`` does.
Problems only a full decode shows (truncated pixel data, a mask that is not binary) are found by the
streaming dataset when it reaches the sample: an error naming the file, or with ``skip_invalid`` a
sample masked out of the loss and counted (see ``personseg.data.stream``).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from personseg.data.checked import opened, usable_samples
from personseg.data.layout import Sample
from personseg.imageops import upright_size


@dataclass(frozen=True)
class SampleSet:
    """Samples of one dataset to be decoded on demand at ``size``; holds paths, never pixels."""

    root: Path
    samples: list[Sample]
    size: int

    @property
    def ids(self) -> list[str]:
        """The sample ids, in order."""
        return [s.id for s in self.samples]

    def subset(self, ids: list[str]) -> SampleSet:
        """The samples named by ``ids``, in that order."""
        index = {s.id: s for s in self.samples}
        return SampleSet(self.root, [index[i] for i in ids], self.size)


def _header_size(path: Path) -> tuple[int, int]:
    with opened(path) as img:
        return upright_size(img)


def check_headers(sample: Sample) -> None:
    """Raise ValueError naming the file when a sample's headers are unreadable or its sizes disagree."""
    width, height = _header_size(sample.image)
    mw, mh = _header_size(sample.mask)
    if (mw, mh) != (width, height):
        raise ValueError(f"{sample.mask}: mask is {mw}x{mh} but image is {width}x{height}")
    if sample.ignore is not None and _header_size(sample.ignore) != (width, height):
        raise ValueError(f"{sample.ignore}: ignore map size differs from image {(width, height)}")


def prescan(root: str | Path, size: int, skip_invalid: bool = False) -> SampleSet:
    """The dataset's usable samples; layout and header problems raise, or are skipped and counted."""
    root = Path(root)
    kept = usable_samples(root, check_headers, skip_invalid)
    return SampleSet(root, [sample for sample, _ in kept], size)


def listed(root: str | Path, size: int) -> SampleSet:
    """The dataset's samples from its layout alone: nothing is opened.

    For steps that read a few of the images (calibration, a gallery, one split): they open only those,
    however large the dataset. Layout problems raise as ``prescan``'s do; a bad file among the images
    used is an error naming it when it is decoded.
    """
    root = Path(root)
    kept = usable_samples(root, lambda sample: None, skip_invalid=False)
    return SampleSet(root, [sample for sample, _ in kept], size)
