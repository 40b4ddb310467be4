"""Print the requirement lines of chosen setup.cfg extras, so an image installs dependencies first.

The Dockerfiles copy only ``setup.cfg`` before running this, install what it prints, and copy the
source afterwards: editing code then reuses the (slow) dependency layer. Reading setup.cfg keeps it
the one list of dependencies. Standard library only, because it runs on a bare base image.
"""

from __future__ import annotations

import argparse
import configparser
import sys


def requirements(setup_cfg: str, extras: list[str], drop: list[str]) -> list[str]:
    """``install_requires`` plus each extra's lines, de-duplicated, without the ``drop`` projects."""
    cfg = configparser.ConfigParser()
    if not cfg.read(setup_cfg):
        raise SystemExit(f"{setup_cfg}: cannot read")
    available = cfg["options.extras_require"]
    lines = cfg["options"]["install_requires"].splitlines()
    for extra in extras:
        if extra not in available:
            raise SystemExit(f"{setup_cfg}: no extra {extra!r}; known: {', '.join(available)}")
        lines += available[extra].splitlines()
    dropped = {name.lower() for name in drop}
    out: list[str] = []
    for line in (raw.split("#")[0].strip() for raw in lines):
        name = line.split(";")[0].split("[")[0]
        for sep in "<>=!~ ":
            name = name.split(sep)[0]
        if line and name.lower() not in dropped and line not in out:
            out.append(line)
    return out


def main(argv: list[str] | None = None) -> int:
    """Command line: ``requirements.py setup.cfg EXTRA... [--drop NAME]...``."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("setup_cfg")
    parser.add_argument("extras", nargs="*")
    parser.add_argument("--drop", action="append", default=[], help="leave this project out (repeatable)")
    args = parser.parse_args(argv)
    sys.stdout.write("".join(f"{line}\n" for line in requirements(args.setup_cfg, args.extras, args.drop)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
