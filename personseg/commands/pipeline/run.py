"""`personseg pipeline run --local`: the whole pipeline on this machine with kfp.local.

The local S3 server is started when no endpoint is configured. Without ``-v`` the steps' logs go to a
file and the terminal shows a line per step and a short ending (``personseg_kfp.local.quiet``); with
``-v`` everything streams live, as kfp.local prints it.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
from pathlib import Path

from personseg.commands.pipeline import require_kfp

log = logging.getLogger(__name__)
# The runners personseg_kfp.local.run knows (tests/test_serving_cli.py keeps the two equal). Not imported from
# there: every command's parser is built when the serving image's CLI starts, and that image has no
# personseg_kfp (nor its yaml).
RUNNERS = ("subprocess", "container")
DEFAULT_ROOT = Path("runs/pipeline")
DEFAULT_STORAGE = Path("runs/s3")
# personseg_kfp.local.run.RUNNERS (a test keeps them equal): not imported, since an install without the
# pipeline extra (the serving image) has no personseg_kfp, and every command's parser is built at start.
RUNNERS = ("subprocess", "container")


def register(sub: argparse._SubParsersAction) -> None:
    """Add `pipeline run`."""
    run = sub.add_parser("run", help="run the whole pipeline on this machine with kfp.local", description=__doc__)
    run.add_argument("--local", action="store_true", required=True, help="run locally (the only mode of `run`)")
    run.add_argument("--param", action="append", default=[], metavar="KEY=VALUE", help="pipeline parameter")
    run.add_argument("--root", default=str(DEFAULT_ROOT), help="where run outputs go (default runs/pipeline)")
    run.add_argument("--storage-dir", default=str(DEFAULT_STORAGE),
                     help="local S3 server data, started when MINIO_ENDPOINT is unset (default runs/s3)")
    run.add_argument("--runner", choices=RUNNERS, default="subprocess",
                     help="subprocess: each step in this Python (default); container: each step in the pipeline "
                     "image (make images), on Docker or else podman, as the image's user, on the host network")
    run.set_defaults(func=handler)


def handler(args: argparse.Namespace) -> int:
    """Run locally, starting the local S3 server if no endpoint is configured; print the report."""
    require_kfp()
    from personseg_kfp.params import parse_params
    from personseg_kfp.pipeline import person_segmentation

    params = parse_params(args.param, person_segmentation)
    if not getattr(args, "verbose", False):
        from personseg_kfp.local.quiet import run_quiet

        return run_quiet(args.root, lambda: _run(params, args.root, args.storage_dir, args.runner))
    outcome = _run(params, args.root, args.storage_dir, args.runner)
    print(outcome.report.read_text())
    from personseg_kfp.local.console import where_to_look

    print("\n".join(where_to_look(outcome.run_dir, outcome.report, None)))
    return 0


def _run(params: dict, root: str, storage_dir: str, runner: str):  # -> LocalRun (personseg_kfp imports kfp)
    """``run_local``, inside a local S3 server unless the environment names one, and a container engine if asked."""
    from personseg_kfp.local.run import run_local

    with contextlib.ExitStack() as stack:
        if runner == "container":
            from personseg.containers.engine import connect
            from personseg_kfp.local.containers import engine_in_env

            engine = stack.enter_context(connect())
            log.info("container engine: %s at %s", engine.kind, engine.docker_host)
            stack.enter_context(engine_in_env(engine.env()))
        if not (os.environ.get("MINIO_ENDPOINT") or os.environ.get("AWS_ENDPOINT_URL")):
            from personseg.storage.weed import local_s3

            server = stack.enter_context(local_s3(storage_dir, set_env=True))
            log.info("local S3 server at %s (data in %s)", server.endpoint, storage_dir)
        return run_local(params, root, runner)
