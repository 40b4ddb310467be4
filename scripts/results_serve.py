"""Put a ``personseg bench serve --json`` result into docs/results.md, in the table of its CPU kind (VNNI or AVX2).

Run::

    PYTHONPATH=. .venv/bin/python scripts/results_serve.py runs/serve/bench.json

Only the text between that kind's ``serve`` marker comments changes (``personseg.bench.results_doc``);
the document is replaced through a temporary file, so a failure leaves it as it was.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from personseg.bench.results_doc import replace_table
from personseg.errors import UserError


def main(argv: list[str] | None = None) -> int:
    """Read the result, rewrite the document in place."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("result", help="the JSON written by personseg bench serve --json")
    p.add_argument("--doc", default="docs/results.md", help="document holding the tables")
    args = p.parse_args(argv)
    try:
        result = json.loads(Path(args.result).read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise UserError(f"{args.result}: unreadable bench serve result ({exc})") from None
    doc = Path(args.doc)
    try:
        text = doc.read_text()
    except OSError as exc:
        raise UserError(f"--doc {doc}: unreadable ({exc})") from None
    tmp = doc.with_name(f".{doc.name}.tmp-{os.getpid()}")
    tmp.write_text(replace_table(text, result, "serve"))
    tmp.replace(doc)
    print(f"{args.doc}: serve table from {args.result}")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except UserError as exc:
        sys.exit(f"error: {exc}")
