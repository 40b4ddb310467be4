"""`personseg segment`: masks, cutouts or composites of files, folders, s3:// prefixes and videos.

A single video input (``.mp4``, ``.mov``, ``.mkv``, ``.webm``, ...) is written to ``--out`` as a ``.webm`` with
alpha, an ``.mp4`` over ``--background`` (green by default) or, for any other name, a folder of PNG frames.

The model is a saved-model directory, an ``s3://`` prefix, a ``models:/`` reference or the URL of a running
``personseg serve``. Exit status 0 when every image was segmented, 1 when any input was skipped as unreadable,
2 for a usage error.
"""

from __future__ import annotations

import argparse
import sys

OUTPUTS = ("mask", "probability", "cutout", "composite")  # personseg.serving.compose.OUTPUTS
ALPHAS = ("clean", "soft")  # personseg.serving.compose.ALPHAS


def register(sub: argparse._SubParsersAction) -> None:
    """Add the `segment` command."""
    p = sub.add_parser("segment", help="segment photos (files, folders, s3:// prefixes) into a folder",
                       description=__doc__.splitlines()[0])
    p.add_argument("inputs", nargs="+", metavar="INPUT",
                   help="image file, folder (searched recursively) or s3:// prefix")
    p.add_argument("--out", required=True, help="output folder (one PNG per image, same relative path)")
    p.add_argument("--model", required=True, metavar="URI",
                   help="saved-model dir, s3:// prefix, models:/NAME@STAGE ref, or http(s):// URL of a running server")
    p.add_argument("--output", choices=OUTPUTS,
                   help="mask (0/255 cut), probability (8-bit), cutout or composite, as /v1/segment's output= "
                        "(default mask; for a video: cutout in .webm or PNGs, composite in .mp4)")
    p.add_argument("--alpha", choices=ALPHAS,
                   help="cutout/composite alpha: clean (0 or 255 away from the mask edge, default) or soft "
                        "(the probability); as /v1/segment's alpha=")
    p.add_argument("--background", metavar="RRGGBB",
                   help="composite background colour (default ffffff; 00ff00 for a video)")
    p.add_argument("--force", action="store_true",
                   help="images: recompute outputs that already exist (default: keep them and do the rest); "
                        "a video: replace an existing --out (default: refuse and change nothing)")
    p.add_argument("--overwrite", dest="force", action="store_true", help=argparse.SUPPRESS)  # its former name
    p.add_argument("--smooth", type=float, default=0.5, metavar="ALPHA",
                   help="video: weight of each new frame in the moving average of mask probabilities (1: none)")
    p.add_argument("--threads", type=int, default=0, help="inference threads (0: this process's CPU quota)")
    p.set_defaults(func=handler)


def _background(args: argparse.Namespace, output: str) -> tuple[int, int, int] | None:
    from personseg.errors import UserError
    from personseg.serving import compose

    if args.background is None:
        return None
    if output != "composite":
        raise UserError("--background is only for --output composite")
    try:
        return compose.parse_colour(args.background)
    except UserError as exc:
        raise UserError(f"--background: {exc}") from None


def _alpha(args: argparse.Namespace, output: str) -> str:
    from personseg.errors import UserError

    if args.alpha is not None and output not in ("cutout", "composite"):
        raise UserError("--alpha is only for --output cutout or composite")
    return args.alpha or "clean"


def _is_server(model: str) -> bool:
    return model.startswith(("http://", "https://"))


def _engine(args: argparse.Namespace, output: str, background: tuple[int, int, int] | None):  # noqa: ANN202
    from personseg.cpuquota import default_threads
    from personseg.segment.engine import LocalEngine, ServerEngine

    alpha = _alpha(args, output)
    if _is_server(args.model):
        return ServerEngine(args.model, output, background, alpha)
    return LocalEngine(args.model, output, background, args.threads or default_threads(), alpha)


def video(args: argparse.Namespace) -> int:
    """Segment one video file into a .webm, an .mp4 or a PNG folder."""
    from pathlib import Path

    from personseg.console.progress import clear, progress
    from personseg.errors import UserError
    from personseg.segment.video import segment_video
    from personseg.segment.video_out import DEFAULT_OUTPUT, kind_of

    if len(args.inputs) != 1:
        raise UserError("a video is segmented alone: give one video file per command")
    if _is_server(args.model):
        raise UserError("a video needs the model here (directory, s3:// or models:/): smoothing works on "
                        "probabilities, which a server's PNG does not carry")
    if not 0.0 < args.smooth <= 1.0:
        raise UserError(f"--smooth {args.smooth}: expected 0 < ALPHA <= 1 (1: no smoothing)")
    out = Path(args.out)
    output = args.output or DEFAULT_OUTPUT[kind_of(out)]
    background = _background(args, output) or (0, 255, 0)
    engine = _engine(args, output, background)
    result = segment_video(Path(args.inputs[0]), out, engine, output, background, args.smooth, args.force,
                           _alpha(args, output),
                           lambda done, total: progress("frame", done, total or done))
    clear()
    print(f"{result.summary()} ({engine.description})")
    return 0


def handler(args: argparse.Namespace) -> int:
    """Gather the inputs, run them, print failures as they happen and one summary line."""
    from pathlib import Path

    from personseg.console.noise import quiet_onnxruntime
    from personseg.console.progress import clear, progress
    from personseg.segment.inputs import gather
    from personseg.segment.run import segment_all
    from personseg.segment.video import is_video

    quiet_onnxruntime(getattr(args, "verbose", False))
    if any(is_video(item) and Path(item).is_file() for item in args.inputs):
        return video(args)
    output = args.output or "mask"
    sources = gather(args.inputs)
    engine = _engine(args, output, _background(args, output))

    def show(done: int, total: int, result) -> None:  # noqa: ANN001 - SegmentResult
        progress("segment", done, total, f"{result.images_per_second:.1f} images/s  {len(result.failures)} failed")

    def report(failure) -> None:  # noqa: ANN001 - Failure
        clear()
        print(f"skipped {failure.reason}", file=sys.stderr)

    result = segment_all(sources, Path(args.out), engine, args.force, show, report)
    clear()
    print(f"{result.summary()} ({engine.description})")
    if result.failures:
        print(f"{len(result.failures)} inputs failed: " + ", ".join(f.name for f in result.failures), file=sys.stderr)
    return 1 if result.failures else 0
