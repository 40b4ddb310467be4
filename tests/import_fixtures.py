"""Helpers for the importer tests: run the CLI, read back what it wrote, check nothing was left behind."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from personseg.cli import main


def run_import(capsys, fmt: str, src: Path, out: Path, *flags: str) -> tuple[int, str]:
    """Exit code and stderr of ``personseg data import``."""
    code = main(["data", "import", "--format", fmt, str(src), str(out), *flags])
    return code, capsys.readouterr().err


def read_map(path: Path) -> np.ndarray:
    """A written mask or ignore map as bool."""
    return np.asarray(Image.open(path)) > 0


def assert_nothing_written(out: Path) -> None:
    """Neither the output folder nor a temporary sibling of it exists."""
    assert not out.exists()
    assert not [p for p in out.parent.iterdir() if p.name.startswith(f".{out.name}.")]


def rle_counts(mask: np.ndarray) -> list[int]:
    """Uncompressed COCO RLE, written out by hand: run lengths over the column-major pixels, zeros first."""
    flat = mask.T.reshape(-1).astype(bool)
    counts, current, run = [], False, 0
    for value in flat:
        if value != current:
            counts.append(run)
            current, run = value, 0
        run += 1
    counts.append(run)
    return counts
