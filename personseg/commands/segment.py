"""`personseg segment`: masks, cutouts or composites of files, folders and s3:// prefixes.

The model is a saved-model directory, an ``s3://`` prefix, a ``models:/`` reference or the URL of a running
``personseg serve``. Exit status 0 when every image was segmented, 1 when any input was skipped as unreadable,
2 for a usage error.
"""

from __future__ import annotations

import argparse
import sys

OUTPUTS = ("mask", "cutout", "composite")


def register(sub: argparse._SubParsersAction) -> None:
    """Add the `segment` command."""
    p = sub.add_parser("segment", help="segment photos (files, folders, s3:// prefixes) into a folder",
                       description=__doc__.splitlines()[0])
    p.add_argument("inputs", nargs="+", metavar="INPUT",
                   help="image file, folder (searched recursively) or s3:// prefix")
    p.add_argument("--out", required=True, help="output folder (one PNG per image, same relative path)")
    p.add_argument("--model", required=True, metavar="URI",
                   help="saved-model dir, s3:// prefix, models:/NAME@STAGE ref, or http(s):// URL of a running server")
    p.add_argument("--output", choices=OUTPUTS, default="mask", help="what to write (default mask)")
    p.add_argument("--background", metavar="RRGGBB", help="composite background colour (default ffffff)")
    p.add_argument("--overwrite", action="store_true", help="recompute outputs that already exist (default: keep them)")
    p.add_argument("--threads", type=int, default=0, help="inference threads (0: this process's CPU quota)")
    p.set_defaults(func=handler)


def _engine(args: argparse.Namespace):  # noqa: ANN202 - returns an Engine; imported lazily
    from personseg.errors import UserError
    from personseg.runtime import default_threads
    from personseg.segment.engine import LocalEngine, ServerEngine
    from personseg.serving import compose

    background = None
    if args.background is not None:
        if args.output != "composite":
            raise UserError("--background is only for --output composite")
        try:
            background = compose.parse_colour(args.background)
        except UserError as exc:
            raise UserError(f"--background: {exc}") from None
    if args.model.startswith(("http://", "https://")):
        return ServerEngine(args.model, args.output, background)
    return LocalEngine(args.model, args.output, background, args.threads or default_threads())


def handler(args: argparse.Namespace) -> int:
    """Gather the inputs, run them, print failures as they happen and one summary line."""
    from pathlib import Path

    from personseg.console.noise import quiet_onnxruntime
    from personseg.console.progress import clear, progress
    from personseg.segment.inputs import gather
    from personseg.segment.run import segment_all

    quiet_onnxruntime(getattr(args, "verbose", False))
    sources = gather(args.inputs)
    engine = _engine(args)

    def show(done: int, total: int, result) -> None:  # noqa: ANN001 - SegmentResult
        progress("segment", done, total, f"{result.images_per_second:.1f} images/s  {len(result.failures)} failed")

    def report(failure) -> None:  # noqa: ANN001 - Failure
        clear()
        print(f"skipped {failure.reason}", file=sys.stderr)

    result = segment_all(sources, Path(args.out), engine, args.overwrite, show, report)
    clear()
    print(f"{result.summary()} ({engine.description})")
    if result.failures:
        print(f"{len(result.failures)} inputs failed: " + ", ".join(f.name for f in result.failures), file=sys.stderr)
    return 1 if result.failures else 0
