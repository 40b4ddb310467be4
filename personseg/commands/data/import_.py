"""``personseg data import --format coco|voc|supervisely|matte SRC OUT``: bring your own data."""

import argparse
from pathlib import Path

from personseg.commands._output import add_force
from personseg.data.importers import FORMATS, MATTE_THRESHOLD


def register(sub: argparse._SubParsersAction) -> None:
    """Add the sub-command."""
    p = sub.add_parser("import", help="convert a COCO, VOC, Supervisely or alpha-matte dataset to our layout",
                       description=__doc__)
    p.add_argument("src", type=Path, help="COCO: the instances JSON; voc / supervisely / matte: the folder")
    p.add_argument("out", help="output dataset folder (complete or absent) or s3:// prefix")
    add_force(p)
    p.add_argument("--format", required=True, choices=FORMATS, help="layout of SRC")
    p.add_argument("--class", "--category", dest="cls",
                   help="the person class: COCO / Supervisely name (default person), VOC index (default 15)")
    p.add_argument("--images", type=Path, help="COCO: folder the file_names are relative to (default: the JSON's)")
    p.add_argument("--test-from", type=Path,
                   help="COCO: a second instances JSON (e.g. val2017) imported too, as the test part of split.json")
    p.add_argument("--test-images", type=Path, help="COCO: folder of --test-from's file_names (default: its folder)")
    p.add_argument("--min-area", type=int, default=0,
                   help="COCO / Supervisely: instances under this many pixels become ignore, not background")
    p.add_argument("--size", type=int, help="downsize so the long side is at most SIZE (masks nearest)")
    p.add_argument("--keep-empty", action="store_true", help="keep images with no person pixel")
    p.add_argument("--band-low", type=float, default=0.1,
                   help=f"matte: person is alpha >= {MATTE_THRESHOLD}; alpha above --band-low "
                        "(default %(default)s) ...")
    p.add_argument("--band-high", type=float, default=0.9,
                   help="... and below --band-high (default %(default)s) is the soft edge, marked ignore")
    p.add_argument("--group-by", metavar="REGEX",
                   help="group pictures by this regular expression over ids (its first group, else the match), "
                        "e.g. '^(P[0-9]+)_' for the person; the automatic split keeps a group in one part "
                        "(default: the source's groups, COCO's image ids; none for the other formats)")
    p.set_defaults(func=handle)


def handle(args: argparse.Namespace) -> int:
    """Import, then print where the dataset went and its counts."""
    from personseg.data.importers.source import ImportOptions
    from personseg.data.importers.write import import_dataset
    from personseg.errors import UserError

    if (args.test_from or args.test_images or args.images) and args.format != "coco":
        raise UserError(f"--images, --test-from and --test-images are for --format coco, not {args.format}")
    options = ImportOptions(cls=args.cls, min_area=args.min_area, size=args.size, keep_empty=args.keep_empty,
                            images=args.images, test_from=args.test_from, test_images=args.test_images,
                            band_low=args.band_low, band_high=args.band_high, group_by=args.group_by)
    result = import_dataset(args.format, args.src, args.out, options, force=args.force)
    counts = result.card["counts"]
    print(f"{result.out}: {counts['images']} images ({counts['with_ignore']} with ignore maps, "
          f"{counts['skipped_empty']} without a person skipped); split: {result.card['split']}")
    return 0
