"""`personseg data push DIR s3://bucket/prefix`: upload a dataset folder with its manifest."""

from __future__ import annotations

import argparse
from pathlib import Path

VALIDATE_SIZE = 64  # the checks do not depend on the size; a small letterbox keeps them quick


def register(sub: argparse._SubParsersAction) -> None:
    """Add `data push`."""
    parser = sub.add_parser(
        "push",
        help="upload a dataset folder to an s3:// prefix (manifest last, sha256 of every file)",
        description=__doc__,
    )
    parser.add_argument("dir", type=Path, help="dataset folder (images/, masks/, optional ignore/)")
    parser.add_argument("uri", help="destination, s3://bucket/prefix")
    parser.add_argument("--force", action="store_true", help="replace a different dataset already there")
    parser.add_argument("--overwrite", dest="force", action="store_true", help=argparse.SUPPRESS)  # its former name
    parser.add_argument("--skip-validation", action="store_true",
                        help="push even a dataset that `personseg data validate` refuses (by default it is checked "
                        "first, so a pipeline never reads a dataset training would refuse)")
    parser.set_defaults(func=_push)


def _push(args: argparse.Namespace) -> int:
    from personseg.data.validate import validate_dataset
    from personseg.errors import UserError
    from personseg.storage.datasets import push_dataset
    from personseg.storage.s3uri import parse_s3_uri

    if not args.skip_validation:
        try:
            validate_dataset(str(args.dir), VALIDATE_SIZE)
        except UserError as exc:
            raise UserError(f"{exc}; fix it (see `personseg data validate {args.dir}`), or push it as it is with "
                            "--skip-validation") from None
    tree = push_dataset(args.dir, args.uri, overwrite=args.force)
    print(f"{parse_s3_uri(args.uri)} {tree.sha256} ({len(tree.files)} files)")
    return 0
