"""Command groups (``personseg data ...``): a package whose modules each register one sub-command."""

from __future__ import annotations

import argparse
import importlib
import pkgutil


def register_group(sub: argparse._SubParsersAction, name: str, help_text: str, package: str) -> None:
    """Add ``name`` with a sub-command for every module of ``package`` (each has ``register(sub)``)."""
    parser = sub.add_parser(name, help=help_text, description=help_text)
    inner = parser.add_subparsers(dest=f"{name}_command", required=True, metavar="COMMAND")
    pkg = importlib.import_module(package)
    for mod in sorted(pkgutil.iter_modules(pkg.__path__), key=lambda m: m.name):
        if not mod.name.startswith("_"):
            importlib.import_module(f"{package}.{mod.name}").register(inner)
