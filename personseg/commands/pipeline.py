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
    """Run locally, starting the local S3 server if no endpoint is configured; print the report."""
    require_kfp()
    from personseg_kfp.local import run_local
    from personseg_kfp.params import parse_params
    from personseg_kfp.pipeline import person_segmentation

    params = parse_params(args.param, person_segmentation)
    if os.environ.get("MINIO_ENDPOINT") or os.environ.get("AWS_ENDPOINT_URL"):
        outcome = run_local(params, args.root)
    else:
        from personseg.storage.server import local_s3

        with local_s3(args.storage_dir, set_env=True) as server:
            log.info("local S3 server at %s (data in %s)", server.endpoint, args.storage_dir)
            outcome = run_local(params, args.root)
    print(outcome.report.read_text())
    _print_deployment(outcome.run_dir)
    return 0


def _print_deployment(run_dir: Path) -> None:
    import json

    result = run_dir / "deploy" / "result"
    if not (run_dir / "evaluate").is_dir():
        print(f"Nothing trained (no new data); outputs in {run_dir}")
        return
    if not result.is_file():
        print(f"Not deployed (the gate said no); outputs in {run_dir}")
        return
    deployed = json.loads(result.read_text())
    print(f"Deployed {deployed['pinned_model']} ({deployed['target']}); the model answers at {deployed['endpoint']} "
          f"(POST {deployed['endpoint']}/v1/segment); outputs in {run_dir}")
    if deployed["target"] == "local":
        print(f"Stop the server with: personseg deploy --target local --model {deployed['pinned_model']} "
              f"--name {deployed['name']} --stop")
