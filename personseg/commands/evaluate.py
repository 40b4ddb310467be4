"""``personseg evaluate``: IoU/Dice/boundary F and latency of models side by side."""

import argparse

from personseg.commands._output import add_force
from personseg.evaluate.config import EvalConfig


def register(sub: argparse._SubParsersAction) -> None:
    """Add the command."""
    p = sub.add_parser("evaluate", help="evaluate and time models side by side")
    p.add_argument("--model", action="append", required=True, help="[NAME=]URI; repeat; the first is the baseline")
    p.add_argument("--data", required=True, help="dataset folder or s3:// prefix")
    p.add_argument("--split", default=EvalConfig.split, choices=("train", "val", "test", "all"),
                   help="which images of --data to score (default test: never used to choose a model)")
    p.add_argument("--extra-data", help="a second evaluation set (e.g. real photographs), scored for quality")
    p.add_argument("--extra-split", default=EvalConfig.extra_split, choices=("train", "val", "test", "all"),
                   help="which images of --extra-data to score")
    p.add_argument("--batch-size", type=int, default=EvalConfig.batch_size, help="images per timed inference call")
    p.add_argument("--rounds", type=int, default=EvalConfig.rounds,
                   help="timed passes per model (the median is reported)")
    p.add_argument("--threads", type=int, default=EvalConfig.threads,
                   help="inference threads (0: this process's CPU quota)")
    p.add_argument("--baseline", help="name of the model speedups are relative to")
    p.add_argument("--report", help="JSON report path (a .md table is written beside it)")
    add_force(p, "the report")
    p.set_defaults(func=handle)


def handle(args: argparse.Namespace) -> int:
    """Run the evaluation and print the Markdown table."""
    from personseg.console.noise import quiet_onnxruntime
    from personseg.evaluate.report import markdown_table
    from personseg.evaluate.step import run

    quiet_onnxruntime(getattr(args, "verbose", False))
    cfg = EvalConfig(models=tuple(args.model), data=args.data, batch_size=args.batch_size, rounds=args.rounds,
                     threads=args.threads, baseline=args.baseline, split=args.split, extra_data=args.extra_data,
                     extra_split=args.extra_split)
    result = run(cfg, args.report, force=args.force)
    print(markdown_table(result), end="")
    extra = result["extra_data"]
    print(f"scored {result['data']['samples']} images ({args.split} split of {args.data})"
          + (f" and {extra['samples']} ({extra['split']} of {extra['uri']})" if extra else ""))
    return 0
