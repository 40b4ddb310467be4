"""Which samples of a dataset are usable: one rule for every reader (in-memory loading, streaming prescan).

Each reader passes its own per-sample check (a full decode, or headers only). A problem names its
file; layout problems from ``scan`` and check failures are listed together. By default any problem is
an error; with ``skip_invalid`` bad samples are dropped with one warning that counts them.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TypeVar

from PIL import Image, UnidentifiedImageError

from personseg.data.layout import Sample, scan
from personseg.errors import UserError

log = logging.getLogger(__name__)
MAX_LISTED = 5
T = TypeVar("T")


@contextmanager
def opened(path: Path) -> Iterator[Image.Image]:
    """``Image.open`` whose failures, in opening or in the caller's decode, are a ValueError naming the file."""
    try:
        with Image.open(path) as img:
            yield img
    except UnidentifiedImageError:
        raise ValueError(f"{path}: not a readable image") from None
    except (OSError, SyntaxError) as exc:
        raise ValueError(f"{path}: unreadable or truncated image ({exc})") from None


def usable_samples(root: Path, check: Callable[[Sample], T], skip_invalid: bool) -> list[tuple[Sample, T]]:
    """Every sample ``check`` accepts, with what it returned; problems raise or are skipped and counted."""
    samples, problems = scan(root)
    if not samples and not problems:
        raise UserError(f"dataset {root}: empty (no images in {root / 'images'})")
    kept = []
    for sample in samples:
        try:
            kept.append((sample, check(sample)))
        except ValueError as exc:
            problems.append(str(exc))
    if problems:
        more = len(problems) - MAX_LISTED
        listed = "; ".join(problems[:MAX_LISTED]) + (f"; and {more} more" if more > 0 else "")
        if not skip_invalid:
            raise UserError(f"dataset {root}: {len(problems)} problem(s): {listed}")
        log.warning("dataset %s: skipped %d problem file(s), kept %d samples: %s", root, len(problems), len(kept),
                    listed)
    if not kept:
        raise UserError(f"dataset {root}: no usable samples")
    return kept
