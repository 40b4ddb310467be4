"""`personseg pipeline schedule`: create or update a recurring run, idempotent by its name."""

from __future__ import annotations

import argparse

from personseg.commands.pipeline.submit import run_args, run_common


def register(sub: argparse._SubParsersAction) -> None:
    """Add `pipeline schedule` (the arguments of `submit`, plus when and under which name)."""
    p = sub.add_parser("schedule", help="create or update a recurring run (idempotent by --name)",
                       description=__doc__)
    run_args(p)
    p.add_argument("--cron", required=True, help="cron expression (5 fields, or 6 with seconds first)")
    p.add_argument("--name", default="person-segmentation-retrain", help="schedule name (its identity)")
    p.set_defaults(func=handler)


def handler(args: argparse.Namespace) -> int:
    """Create or update the recurring run."""
    from personseg_kfp.remote import schedule

    rid, action = schedule(**run_common(args), cron=args.cron, name=args.name)
    print(f"schedule {args.name}: {action} (recurring run {rid})")
    return 0
