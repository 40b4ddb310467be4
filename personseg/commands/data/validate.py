"""``personseg data validate URI``: check a dataset the way training will read it."""

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    """Add the sub-command."""
    p = sub.add_parser("validate", help="check layout, readability, sizes and mask values of a dataset")
    p.add_argument("data", help="dataset folder or s3:// prefix")
    p.add_argument("--size", type=int, default=256, help="side in pixels images are read at, as training would")
    p.set_defaults(func=handle)


def handle(args: argparse.Namespace) -> int:
    """Decode and check every sample; problems raise a UserError naming the files."""
    from personseg.data.validate import validate_dataset

    found = validate_dataset(args.data, args.size)
    counts = found.counts
    print(f"{args.data}: {found.samples} samples ok ({counts['train']} train, {counts['val']} val, "
          f"{counts['test']} test; split from {found.split_source})")
    return 0
