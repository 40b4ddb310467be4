"""``personseg data demo OUT``: the committed people dataset (or the real-photo set) as a folder."""

from __future__ import annotations

import argparse
import logging

from personseg.commands._output import add_force

log = logging.getLogger(__name__)


def register(sub: argparse._SubParsersAction) -> None:
    """Add ``data demo``."""
    parser = sub.add_parser(
        "demo",
        help="copy the committed demo dataset (or the held-out real photos, or the extra training people) into OUT",
        description="Copy the committed teacher-labelled dataset into OUT, re-letterboxed to --size if "
        "that differs from the committed 256 px. Needs neither openpeople nor mediapipe.",
    )
    parser.add_argument("out", metavar="OUT", help="output folder (written whole or not at all)")
    add_force(parser)
    parser.add_argument("--size", type=int, default=256, help="image size in pixels (default 256)")
    parser.add_argument("--which", choices=("demo", "real", "people"), default="demo",
                        help="demo: openpeople photos split by person; real: held-out real photographs; people: "
                        "six real photographs of people, all train (the pipeline's extra_train_uri)")
    parser.set_defaults(func=handler)


def handler(args: argparse.Namespace) -> int:
    """Copy the chosen committed dataset."""
    from personseg.labeling.committed import committed_dataset, copy_dataset

    card = copy_dataset(committed_dataset(args.which), args.out, args.size, force=args.force)
    counts = card.get("counts", {})
    log.info("wrote %s: %s images at %s px (%s)", args.out, counts.get("images"), card.get("size"),
             ", ".join(f"{k} {v}" for k, v in counts.items() if k != "images"))
    return 0
