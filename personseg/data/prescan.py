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

import logging
from dataclasses import dataclass
from pathlib import Path

from PIL import Image, UnidentifiedImageError

from personseg.data.layout import Sample, scan
from personseg.errors import UserError

log = logging.getLogger(__name__)
MAX_LISTED = 5


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
    try:
        with Image.open(path) as img:
            return img.size
    except UnidentifiedImageError:
        raise ValueError(f"{path}: not a readable image") from None
    except (OSError, SyntaxError) as exc:
        raise ValueError(f"{path}: unreadable or truncated image ({exc})") from None


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
    samples, problems = scan(root)
    if not samples and not problems:
        raise UserError(f"dataset {root}: empty (no images in {root / 'images'})")
    kept = []
    for sample in samples:
        try:
            check_headers(sample)
        except ValueError as exc:
            problems.append(str(exc))
            continue
        kept.append(sample)
    if problems:
        more = len(problems) - MAX_LISTED
        listed = "; ".join(problems[:MAX_LISTED]) + (f"; and {more} more" if more > 0 else "")
        if not skip_invalid:
            raise UserError(f"dataset {root}: {len(problems)} problem(s): {listed}")
        log.warning("dataset %s: skipped %d problem file(s), kept %d samples: %s", root, len(problems), len(kept),
                    listed)
    if not kept:
        raise UserError(f"dataset {root}: no usable samples")
    return SampleSet(root, kept, size)
