"""`personseg data ...`: one module per sub-command in this package."""

import argparse

from personseg.commands._group import register_group


def register(sub: argparse._SubParsersAction) -> None:
    """Add the `data` group."""
    register_group(sub, "data", "Datasets: make, check, label and push them", __name__)
