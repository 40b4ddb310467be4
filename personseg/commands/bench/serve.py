"""`personseg bench serve`: drive the real server over HTTP and compare with the bare model."""

from __future__ import annotations

import argparse

from personseg.commands._output import add_force


def register(sub: argparse._SubParsersAction) -> None:
    """Add `bench serve`."""
    p = sub.add_parser("serve", help="HTTP throughput and latency of the server vs the bare model",
                       description=__doc__.splitlines()[0])
    p.add_argument("--model", required=True, metavar="URI", help="saved-model dir, s3:// prefix or models:/ ref")
    p.add_argument("--concurrency", default="1,8,32", help="comma-separated client concurrencies (default 1,8,32)")
    p.add_argument("--requests", type=int, default=200, help="timed requests per concurrency (default 200)")
    p.add_argument("--images", default="", metavar="DIR",
                   help="folder of photos or a dataset folder (default: the repo's datasets/real)")
    p.add_argument("--image-size", metavar="WxH", help="resize the photos to this size first (e.g. 640x480)")
    p.add_argument("--threads", type=int, default=0, help="inference threads, server and bare (default: CPU quota)")
    p.add_argument("--max-batch", type=int, default=8, help="server micro-batch size (default 8)")
    p.add_argument("--batch-wait-ms", type=float, default=5.0, help="server batch window (default 5)")
    p.add_argument("--output", default="mask", choices=("mask", "cutout", "composite"), help="what to request")
    p.add_argument("--bare-seconds", type=float, default=3.0, help="how long to time the bare model (default 3)")
    p.add_argument("--rounds", type=int, default=1,
                   help="alternate the load test and the bare timing this many times; each ratio uses its own "
                   "round's bare figure and the summary is the median (default 1)")
    p.add_argument("--json", metavar="PATH", help="also write the results as JSON")
    add_force(p, "the --json file")
    p.set_defaults(func=handler)


def handler(args: argparse.Namespace) -> int:
    """Run the benchmark and print its table."""
    from personseg.atomic import check_file, write_json
    from personseg.bench.serve import BenchConfig, format_report, parse_size, run_bench
    from personseg.errors import UserError

    try:
        levels = tuple(int(v) for v in args.concurrency.split(","))
    except ValueError:
        raise UserError(f"--concurrency {args.concurrency!r}: expected numbers like 1,8,32") from None
    if not levels or min(levels) < 1 or args.requests < 1:
        raise UserError("--concurrency values and --requests must be at least 1")
    if args.json:
        check_file(args.json, args.force, "--json")
    config = BenchConfig(args.model, levels, args.requests, args.images,
                         parse_size(args.image_size) if args.image_size else None, args.threads, args.max_batch,
                         args.batch_wait_ms, args.output, args.bare_seconds, args.rounds)
    report = run_bench(config)
    print(format_report(report))
    if args.json:
        write_json(args.json, report.as_dict())
    return 1 if any(lv.errors for lv in report.levels) else 0
