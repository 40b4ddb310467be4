"""``personseg pipeline upload|submit|schedule``: the actions that talk to a Kubeflow Pipelines API.

Kept apart from ``pipeline.py`` (compile and local runs); the underscore keeps the CLI's command
discovery from taking it for a top-level command.
"""

from __future__ import annotations

import argparse
from typing import Any


def _connection_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--host", required=True, help="KFP API endpoint, e.g. http://localhost:8888")
    p.add_argument("--namespace", help="Kubeflow profile namespace (multi-user deployments)")
    p.add_argument("--token-env", default="KFP_TOKEN", help="environment variable holding a bearer token")
    p.add_argument("--ssl-ca-cert", help="CA bundle for a TLS endpoint")


def _store_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--s3-endpoint", help="S3 endpoint of the object store, as the pods reach it (default: found in "
                   "the cluster through kubeconfig: KFP's kfp-launcher ConfigMap, else Service seaweedfs or "
                   "minio-service; without cluster access each step finds it)")
    p.add_argument("--kfp-namespace", default="kubeflow", help="namespace KFP is installed in (default kubeflow)")


def _run_args(p: argparse.ArgumentParser) -> None:
    _connection_args(p)
    _store_args(p)
    p.add_argument("--param", action="append", default=[], metavar="KEY=VALUE", help="pipeline parameter")
    what = p.add_mutually_exclusive_group()
    what.add_argument("--package", help="compiled pipeline (default: the checkout's "
                      "pipelines/person_segmentation.yaml, else compiled from this install)")
    what.add_argument("--pipeline-version", metavar="NAME|ID",
                      help="run this version registered by `pipeline upload` (or `latest`), not the local package")
    p.add_argument("--pipeline-name", help="pipeline holding --pipeline-version (default person-segmentation)")
    p.add_argument("--experiment", default="person-segmentation", help="KFP experiment the run is filed under")


def register_remote(inner: argparse._SubParsersAction) -> None:
    """Add ``upload``, ``submit`` and ``schedule`` to ``personseg pipeline``."""
    up = inner.add_parser("upload", help="register the compiled pipeline in KFP as a version (once per spec)")
    _connection_args(up)
    _store_args(up)
    up.add_argument("--package", help="compiled pipeline (default: the checkout's "
                    "pipelines/person_segmentation.yaml, else compiled from this install)")
    up.add_argument("--name", help="pipeline name in KFP (default: the package's, person-segmentation)")
    up.add_argument("--version", help="name of a new version (default <personseg version>-<spec sha12>)")
    up.set_defaults(func=handle_upload)

    sub = inner.add_parser("submit", help="start a run on a Kubeflow Pipelines endpoint")
    _run_args(sub)
    sub.add_argument("--run-name", help="display name of the run (default: KFP's)")
    sub.set_defaults(func=handle_submit)

    sched = inner.add_parser("schedule", help="create or update a recurring run (idempotent by --name)")
    _run_args(sched)
    sched.add_argument("--cron", required=True, help="cron expression (5 fields, or 6 with seconds first)")
    sched.add_argument("--name", default="person-segmentation-retrain", help="schedule name (its identity)")
    sched.set_defaults(func=handle_schedule)


def _connection(args: argparse.Namespace) -> Any:
    from personseg_kfp.connection import Connection

    return Connection(args.host, args.namespace, args.token_env, args.ssl_ca_cert)


def _store(args: argparse.Namespace) -> Any:
    """The object store's endpoint for the run (or None: the steps find it), saying where it came from."""
    from personseg_kfp.object_store import find_store

    found, line = find_store(args.s3_endpoint, args.namespace, args.kfp_namespace)
    print(line)
    return found


def handle_upload(args: argparse.Namespace) -> int:
    """Register the package (with the store's endpoint as its default); print the version found or made."""
    import tempfile
    from pathlib import Path

    from personseg.commands.pipeline import require_kfp

    require_kfp()
    from personseg_kfp.object_store import package_with_endpoint
    from personseg_kfp.pipeline import default_package
    from personseg_kfp.upload import upload

    found = _store(args)
    with tempfile.TemporaryDirectory(prefix="personseg-upload-") as tmp:
        package = package_with_endpoint(args.package or default_package(), found, Path(tmp))
        v = upload(_connection(args), package, args.name, args.version)
    print(f"pipeline {v.pipeline} ({v.pipeline_id}): {v.action} version {v.name} (id {v.version_id})")
    return 0


def _run_common(args: argparse.Namespace) -> dict[str, Any]:
    from personseg.commands.pipeline import require_kfp

    require_kfp()
    from personseg_kfp.object_store import with_endpoint
    from personseg_kfp.params import parse_params
    from personseg_kfp.pipeline import PIPELINE_NAME, default_package, person_segmentation

    package = None if args.pipeline_version else (args.package or default_package())
    params = parse_params(args.param, person_segmentation)
    if "s3_endpoint" not in params:
        params = with_endpoint(params, _store(args))
    return {"conn": _connection(args), "package": package, "params": params, "experiment": args.experiment,
            "pipeline_version": args.pipeline_version, "pipeline_name": args.pipeline_name or PIPELINE_NAME}


def handle_submit(args: argparse.Namespace) -> int:
    """Submit one run."""
    from personseg_kfp.remote import submit

    run_id = submit(**_run_common(args), run_name=args.run_name)
    print(f"submitted run {run_id}")
    return 0


def handle_schedule(args: argparse.Namespace) -> int:
    """Create or update the recurring run."""
    from personseg_kfp.remote import schedule

    rid, action = schedule(**_run_common(args), cron=args.cron, name=args.name)
    print(f"schedule {args.name}: {action} (recurring run {rid})")
    return 0
