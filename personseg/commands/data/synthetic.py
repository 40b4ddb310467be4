"""``personseg data synthetic OUT --count N --size S``."""

import argparse

from personseg.commands._output import add_force


def register(sub: argparse._SubParsersAction) -> None:
    """Add the sub-command."""
    p = sub.add_parser("synthetic", help="write a procedurally generated person-like dataset")
    p.add_argument("out", help="output dataset folder (written whole or not at all)")
    add_force(p)
    p.add_argument("--count", type=int, default=64, help="number of images")
    p.add_argument("--size", type=int, default=256, help="image side in pixels (square)")
    p.add_argument("--seed", type=int, default=0, help="random seed: the same seed writes the same images")
    p.set_defaults(func=handle)


def handle(args: argparse.Namespace) -> int:
    """Write the dataset."""
    from personseg.data.synthetic import write_synthetic
    from personseg.errors import UserError

    if args.count < 1 or args.size < 16:
        raise UserError(f"--count {args.count} / --size {args.size}: need count >= 1 and size >= 16")
    print(write_synthetic(args.out, args.count, args.size, args.seed, force=args.force))
    return 0
