"""`personseg bench ...`: one module per sub-command in this package."""

import argparse

from personseg.commands._group import register_group


def register(sub: argparse._SubParsersAction) -> None:
    """Add the `bench` group."""
    register_group(sub, "bench", "Benchmarks that print their figures", __name__)
