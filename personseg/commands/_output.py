"""The one flag that lets a command replace an existing output: ``--force``, the same word everywhere."""

from __future__ import annotations

import argparse


def add_force(parser: argparse.ArgumentParser, what: str = "OUT") -> None:
    """Add ``--force``: without it, an existing non-empty output is refused and left untouched."""
    parser.add_argument("--force", action="store_true", help=f"replace {what} if it already holds something "
                        "(else the command refuses and changes nothing)")
