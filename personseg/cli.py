"""Turn photos of people and their masks into a fast INT8 person-segmentation model, and serve it.

The command line parses arguments into configs and calls step functions.

Each sub-command lives in ``personseg/commands/<name>.py`` and exposes ``register(subparsers)``;
modules are discovered, so adding a command never edits this file. Command modules import heavy
libraries (torch, onnxruntime, minio) inside their handlers, keeping ``personseg --help`` fast.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import pkgutil
import sys

from personseg import __version__
from personseg.commands._help import CommandParser
from personseg.console.noise import quiet_third_party
from personseg.errors import UserError


def build_parser() -> argparse.ArgumentParser:
    """The full parser with every discovered sub-command."""
    import personseg.commands as commands

    parser = CommandParser(prog="personseg", description=__doc__.splitlines()[0])
    parser.add_argument("--version", action="version", version=f"personseg {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for mod in sorted(pkgutil.iter_modules(commands.__path__), key=lambda m: m.name):
        if mod.name.startswith("_"):
            continue
        importlib.import_module(f"personseg.commands.{mod.name}").register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run one command; user errors become one line on stderr and exit code 2."""
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO, format="%(message)s", stream=sys.stderr
    )
    logging.getLogger("PIL").setLevel(logging.INFO)  # its debug lines (one per PNG chunk) drown ours
    quiet_third_party(args.verbose)
    try:
        result = args.func(args)
    except UserError as exc:
        print(f"{args.prog}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"{args.prog}: interrupted", file=sys.stderr)
        return 130
    return int(result or 0)


if __name__ == "__main__":
    sys.exit(main())
