"""``personseg data label --teacher NAME IN OUT``: pseudo-label a folder of photos of people."""

from __future__ import annotations

import argparse
import logging
import shlex
from pathlib import Path

from personseg.commands._output import add_force

log = logging.getLogger(__name__)


def register(sub: argparse._SubParsersAction) -> None:
    """Add ``data label``."""
    from personseg.labeling.teacher import teacher_names

    parser = sub.add_parser(
        "label",
        help="pseudo-label photos with a teacher segmenter (unsure pixels become ignore)",
        description="Write a dataset (images/, masks/, ignore/, dataset.json) from a folder of photos: "
        "person where the teacher's probability >= --high, background where <= --low, ignore between.",
    )
    parser.add_argument("source", metavar="IN", help="folder of photos, or a dataset with images/")
    parser.add_argument("out", metavar="OUT", help="output dataset folder (written whole or not at all)")
    add_force(parser)
    parser.add_argument("--teacher", choices=teacher_names(), required=True, help="teacher segmenter")
    parser.add_argument("--low", type=float, default=0.3, help="background at or below this (default 0.3)")
    parser.add_argument("--high", type=float, default=0.7, help="person at or above this (default 0.7)")
    parser.add_argument("--group-by", metavar="REGEX",
                        help="group photos by this regular expression over ids (its first group, else the match), "
                             "e.g. '^([a-z]+)_' for the person; the automatic split keeps a group in one part")
    parser.set_defaults(func=handler)


def handler(args: argparse.Namespace) -> int:
    """Build the teacher and label the folder."""
    from personseg.atomic import check_output
    from personseg.data.groups import group_pattern
    from personseg.labeling.band import Band
    from personseg.labeling.label import find_photos, label_folder
    from personseg.labeling.teacher import get_teacher

    band = Band(args.low, args.high)
    check_output(args.out, args.force)  # a taken OUT, a bad IN or --group-by fails before the teacher loads
    group_pattern(args.group_by)
    find_photos(Path(args.source))
    teacher = get_teacher(args.teacher)
    words = ["data", "label", "--teacher", args.teacher, "--low", str(band.low), "--high", str(band.high),
             *(["--group-by", args.group_by] if args.group_by else []), args.source, args.out]
    command = "personseg " + " ".join(shlex.quote(w) for w in words)
    report = label_folder(teacher, args.source, args.out, band, command=command, group_by=args.group_by,
                          force=args.force)
    log.info("wrote %s: %d images, %d with ignore pixels; mean person %.1f%%, mean ignore %.1f%%",
             report.out, report.count, report.with_ignore,
             100 * report.person_fraction, 100 * report.ignore_fraction)
    return 0
