"""``personseg pipeline``: compile the Kubeflow pipeline, run it locally, submit it, schedule it.

The pipeline itself lives in the project's top-level ``pipelines/`` and ``components/`` folders
(they import kfp, which the library never does); handlers import them lazily from the checkout.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path

from personseg.errors import UserError

log = logging.getLogger(__name__)
DEFAULT_ROOT = Path("runs/pipeline")
DEFAULT_STORAGE = Path("runs/s3")


def project_root() -> Path:
    """The checkout holding ``pipelines/`` and ``components/``, put on ``sys.path`` for the imports."""
    root = Path(__file__).resolve().parents[2]
    if not (root / "pipelines" / "person_segmentation.py").is_file():
        raise UserError(f"{root}: no pipelines/person_segmentation.py; `personseg pipeline` needs a project checkout")
    if str(root) not in sys.path:
        sys.path.insert(0, str(root))
    return root


def register(sub: argparse._SubParsersAction) -> None:
    """Add ``pipeline compile|run|submit|schedule``."""
    parser = sub.add_parser("pipeline", help="compile, run locally, submit or schedule the Kubeflow pipeline")
    inner = parser.add_subparsers(dest="pipeline_command", required=True, metavar="ACTION")

    comp = inner.add_parser("compile", help="write the pipeline's IR YAML")
    comp.add_argument("-o", "--output", help="file to write (default pipelines/person_segmentation.yaml)")
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

    for name, helptext in (("submit", "start a run on a Kubeflow Pipelines endpoint"),
                           ("schedule", "create or update a recurring run (idempotent by --name)")):
        p = inner.add_parser(name, help=helptext)
        p.add_argument("--host", required=True, help="KFP API endpoint, e.g. http://localhost:8888")
        p.add_argument("--param", action="append", default=[], metavar="KEY=VALUE", help="pipeline parameter")
        p.add_argument("--package", help="compiled pipeline (default pipelines/person_segmentation.yaml)")
        p.add_argument("--experiment", default="person-segmentation")
        p.add_argument("--namespace", help="Kubeflow profile namespace (multi-user deployments)")
        p.add_argument("--token-env", default="KFP_TOKEN", help="environment variable holding a bearer token")
        p.add_argument("--ssl-ca-cert", help="CA bundle for a TLS endpoint")
        if name == "submit":
            p.add_argument("--run-name")
            p.set_defaults(func=handle_submit)
        else:
            p.add_argument("--cron", required=True, help="cron expression (5 fields, or 6 with seconds first)")
            p.add_argument("--name", default="person-segmentation-retrain", help="schedule name (its identity)")
            p.set_defaults(func=handle_schedule)


def handle_compile(args: argparse.Namespace) -> int:
    """Compile to YAML."""
    project_root()
    from pipelines.person_segmentation import COMPILED, compile_pipeline

    out = compile_pipeline(args.output or COMPILED, args.access_key_field, args.secret_key_field)
    print(out)
    return 0


def handle_run(args: argparse.Namespace) -> int:
    """Run locally, starting the local S3 server if no endpoint is configured; print the report."""
    project_root()
    from pipelines.local import run_local
    from pipelines.params import parse_params
    from pipelines.person_segmentation import person_segmentation

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


def _connection(args: argparse.Namespace):  # noqa: ANN202 (type lives in pipelines/, imported lazily)
    from pipelines.remote import Connection

    return Connection(args.host, args.namespace, args.token_env, args.ssl_ca_cert)


def handle_submit(args: argparse.Namespace) -> int:
    """Submit one run."""
    project_root()
    from pipelines.params import parse_params
    from pipelines.person_segmentation import COMPILED, person_segmentation
    from pipelines.remote import submit

    run_id = submit(_connection(args), args.package or COMPILED, parse_params(args.param, person_segmentation),
                    args.experiment, args.run_name)
    print(f"submitted run {run_id}")
    return 0


def handle_schedule(args: argparse.Namespace) -> int:
    """Create or update the recurring run."""
    project_root()
    from pipelines.params import parse_params
    from pipelines.person_segmentation import COMPILED, person_segmentation
    from pipelines.remote import schedule

    rid, action = schedule(_connection(args), args.package or COMPILED, args.cron,
                           parse_params(args.param, person_segmentation), args.name, args.experiment)
    print(f"schedule {args.name}: {action} (recurring run {rid})")
    return 0
