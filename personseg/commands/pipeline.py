"""``personseg pipeline``: compile the Kubeflow pipeline, run it locally, upload, submit or schedule it.

The pipeline and its components live in the ``personseg_kfp`` package (installed with personseg; it
imports kfp, which the library never does), so handlers import it lazily: ``pip install
'personseg[pipeline]'`` is all these commands need, no checkout.
"""

from __future__ import annotations

import argparse
import logging
import os
from pathlib import Path

from personseg.commands._pipeline_remote import register_remote
from personseg.errors import UserError

log = logging.getLogger(__name__)
DEFAULT_ROOT = Path("runs/pipeline")
DEFAULT_STORAGE = Path("runs/s3")


def require_kfp() -> None:
    """One line naming the install command when the pipeline extra is missing."""
    import importlib.util

    if importlib.util.find_spec("kfp") is None:
        raise UserError("`personseg pipeline` needs kfp: pip install 'personseg[pipeline]'")


def register(sub: argparse._SubParsersAction) -> None:
    """Add ``pipeline compile|run|upload|submit|schedule``."""
    parser = sub.add_parser("pipeline", help="compile, run locally, upload, submit or schedule the Kubeflow pipeline")
    inner = parser.add_subparsers(dest="pipeline_command", required=True, metavar="ACTION")

    comp = inner.add_parser("compile", help="write the pipeline's IR YAML")
    comp.add_argument("-o", "--output", help="file to write (default pipelines/person_segmentation.yaml in a "
                      "checkout, else ./person_segmentation.yaml)")
    comp.add_argument("--access-key-field", default="accesskey", help="key of the S3 access key in the Secret")
    comp.add_argument("--secret-key-field", default="secretkey", help="key of the S3 secret key in the Secret")
    comp.set_defaults(func=handle_compile)

    run = inner.add_parser("run", help="run the whole pipeline on this machine with kfp.local")
    run.add_argument("--local", action="store_true", required=True, help="run locally (the only mode of `run`)")
    run.add_argument("--param", action="append", default=[], metavar="KEY=VALUE", help="pipeline parameter")
    run.add_argument("--root", default=str(DEFAULT_ROOT), help="where run outputs go (default runs/pipeline)")
    run.add_argument("--storage-dir", default=str(DEFAULT_STORAGE),
                     help="local S3 server data, started when MINIO_ENDPOINT is unset (default runs/s3)")
    run.set_defaults(func=handle_run)

    register_remote(inner)


def handle_compile(args: argparse.Namespace) -> int:
    """Compile to YAML."""
    require_kfp()
    from personseg_kfp.pipeline import compile_pipeline, default_output

    out = compile_pipeline(args.output or default_output(), args.access_key_field, args.secret_key_field)
    print(out)
    return 0


def handle_run(args: argparse.Namespace) -> int:
    """Run locally, starting the local S3 server if no endpoint is configured; print the report.

    Without ``-v`` the steps' logs go to a file and the terminal shows one line per step start and end
    (``personseg_kfp.local.quiet``); with ``-v`` everything streams live, as kfp.local prints it.
    """
    require_kfp()
    from personseg_kfp.params import parse_params
    from personseg_kfp.pipeline import person_segmentation

    params = parse_params(args.param, person_segmentation)
    if not getattr(args, "verbose", False):
        from personseg_kfp.local.quiet import run_quiet

        return run_quiet(args.root, lambda: _run(params, args.root, args.storage_dir))
    outcome = _run(params, args.root, args.storage_dir)
    print(outcome.report.read_text())
    from personseg_kfp.local.console import where_to_look

    print("\n".join(where_to_look(outcome.run_dir, outcome.report, None)))
    return 0


def _run(params: dict, root: str, storage_dir: str):  # -> LocalRun (personseg_kfp imports kfp: lazily)
    """``run_local``, inside a local S3 server unless the environment names one."""
    from personseg_kfp.local.run import run_local

    if os.environ.get("MINIO_ENDPOINT") or os.environ.get("AWS_ENDPOINT_URL"):
        return run_local(params, root)
    from personseg.storage.weed import local_s3

    with local_s3(storage_dir, set_env=True) as server:
        log.info("local S3 server at %s (data in %s)", server.endpoint, storage_dir)
        return run_local(params, root)
