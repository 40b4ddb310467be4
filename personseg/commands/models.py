"""`personseg models ...`: the model registry on S3 (publish, list, show, promote, pull, presign, gc).

A version is ``s3://<bucket>/<name>/<version>/``; references look like ``NAME``, ``NAME:3`` or
``NAME@production`` (``models:/`` prefix optional) and work wherever a ``--model`` is taken.
The bucket is ``--bucket``, else ``PERSONSEG_MODEL_BUCKET``, else ``models``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
from pathlib import Path

from personseg.commands._output import add_force
from personseg.errors import UserError


def register(sub: argparse._SubParsersAction) -> None:
    """Add the `models` command and its sub-commands."""
    parser = sub.add_parser("models", help="Model registry on S3: publish, list, promote, pull", description=__doc__)
    inner = parser.add_subparsers(dest="models_command", required=True, metavar="COMMAND")

    def add(name: str, help_text: str, func) -> argparse.ArgumentParser:
        cmd = inner.add_parser(name, help=help_text, description=help_text)
        cmd.add_argument("--bucket", default=None, help="registry bucket (default $PERSONSEG_MODEL_BUCKET or models)")
        cmd.set_defaults(func=func)
        return cmd

    cmd = add("publish", "upload a saved-model directory as the next version; prints the version", _publish)
    cmd.add_argument("dir", type=Path, help="saved-model directory (config.json + weights)")
    cmd.add_argument("--name", required=True, help="model name, e.g. personseg-int8")
    cmd.add_argument("--run-id", default=None, help="pipeline run id for the card (default $KFP_RUN_ID)")
    cmd.add_argument("--stage", default=None, help="also promote the new version to this stage")
    cmd = add("list", "list models, or the versions of one model", _list)
    cmd.add_argument("name", nargs="?", help="model name")
    cmd = add("show", "summarize the model card of a version (with stages and deploy status)", _show)
    cmd.add_argument("ref", help="NAME, NAME:VERSION or NAME@STAGE")
    cmd.add_argument("--json", action="store_true", help="print the whole card, stages and status as JSON")
    cmd = add("promote", "point a stage at a version (an older version rolls back)", _promote)
    cmd.add_argument("name", help="model name")
    cmd.add_argument("version", type=int, help="version number")
    cmd.add_argument("--stage", default="production", help="candidate or production (default %(default)s)")
    cmd = add("pull", "download a version into OUT, sha256-verified", _pull)
    cmd.add_argument("ref", help="NAME, NAME:VERSION or NAME@STAGE")
    cmd.add_argument("out", type=Path, help="folder to write")
    add_force(cmd)
    cmd = add("presign", "print download links for every file of a version", _presign)
    cmd.add_argument("ref", help="NAME, NAME:VERSION or NAME@STAGE")
    cmd.add_argument("--expires", type=int, default=3600, help="seconds the links work (default %(default)s)")
    cmd = add("gc", "remove what interrupted publishes left behind (never a complete version)", _gc)
    cmd.add_argument("name", help="model name")
    cmd.add_argument(
        "--older-than",
        default="1h",
        metavar="AGE",
        help="keep anything younger, it may be a publish in progress (default %(default)s; s, m, h, d)",
    )
    cmd.add_argument("--dry-run", action="store_true", help="print what would be removed, remove nothing")


def _registry(args: argparse.Namespace):
    from personseg.storage.registry import Registry

    return Registry.from_env(args.bucket)


def _publish(args: argparse.Namespace) -> int:
    registry = _registry(args)
    card = {"pipeline_run_id": args.run_id} if args.run_id else None
    if args.stage:
        from personseg.storage.refs import check_stage

        check_stage(args.stage)
    from personseg.serving.smoke_probe import card_entry

    version = registry.publish(args.dir, args.name, card, smoke=card_entry(args.dir))
    if args.stage:
        registry.promote(args.name, version, args.stage)
    print(version)
    return 0


def _list(args: argparse.Namespace) -> int:
    registry = _registry(args)
    if not args.name:
        names = registry.names()
        if not names:
            print(f"no models in {registry.where}", file=sys.stderr)
            return 0
        print("NAME\tVERSIONS\tLATEST\tSTAGES")
        for name in names:
            versions = registry.versions(name)
            stages = " ".join(f"{s}={v}" for s, v in registry.stages(name).items()) or "-"
            print(f"{name}\t{len(versions)}\t{versions[-1] if versions else '-'}\t{stages}")
        return 0
    versions = registry.versions(args.name)
    if not versions:
        raise UserError(f"model {args.name}: no complete versions in {registry.where}")
    stages = registry.stages(args.name)
    print("VERSION\tCREATED\tSTAGES\tDEPLOY")
    for version in versions:
        card = registry.card(args.name, version)
        tags = ",".join(s for s, v in stages.items() if v == version) or "-"
        status = (registry.status(args.name, version) or {}).get("status", "-")
        print(f"{version}\t{card.get('created', '-')}\t{tags}\t{status}")
    return 0


def _show(args: argparse.Namespace) -> int:
    registry = _registry(args)
    name, version = registry.resolve(args.ref)
    card = registry.card(name, version)
    stages = {s: v for s, v in registry.stages(name).items() if v == version}
    status = registry.status(name, version)
    if args.json:
        print(json.dumps({"card": card, "stages": stages, "status": status}, indent=2, sort_keys=True))
        return 0
    from personseg.storage.card_text import card_lines

    print("\n".join(card_lines(card, list(stages), status)))
    return 0


def _promote(args: argparse.Namespace) -> int:
    registry = _registry(args)
    before = registry.stage(args.name, args.stage)
    registry.promote(args.name, args.version, args.stage)
    print(f"{args.name}@{args.stage}: {before if before is not None else '-'} -> {args.version}")
    return 0


def _pull(args: argparse.Namespace) -> int:
    from personseg.atomic import check_output

    check_output(args.out, args.force)  # before any S3 request
    registry = _registry(args)
    path = registry.pull(args.ref, args.out, force=args.force)
    print(path)
    return 0


def _presign(args: argparse.Namespace) -> int:
    registry = _registry(args)
    name, version = registry.resolve(args.ref)
    links = registry.presign(name, version, dt.timedelta(seconds=args.expires))
    for rel, url in links.items():
        print(f"{rel}\t{url}")
    return 0


def _gc(args: argparse.Namespace) -> int:
    from personseg.storage.gc import age_text, collect, parse_age

    older_than = parse_age(args.older_than)
    registry = _registry(args)
    report = collect(registry.store, registry.bucket, args.name, older_than, dry_run=args.dry_run)
    verb = "would remove" if args.dry_run else "removed"
    for found in report.removed:
        print(f"{verb}\ts3://{registry.bucket}/{found.key}\t{found.reason}")
    for found in report.kept:
        print(f"kept\ts3://{registry.bucket}/{found.key}\t{found.reason}")
    print(f"{args.name}: {verb} {len(report.removed)} object(s), kept {len(report.kept)} incomplete version(s) "
          f"(--older-than {age_text(older_than)})")
    return 0
