"""`personseg pipeline submit`: start a run on a Kubeflow Pipelines endpoint (`schedule` takes the same arguments)."""

from __future__ import annotations

import argparse
from typing import Any

from personseg.commands.pipeline import connection, connection_args, require_kfp, store, store_args


def run_args(p: argparse.ArgumentParser) -> None:
    """What a run needs: the API, the store, the parameters and which pipeline (a package or a version)."""
    connection_args(p)
    store_args(p)
    p.add_argument("--param", action="append", default=[], metavar="KEY=VALUE", help="pipeline parameter")
    what = p.add_mutually_exclusive_group()
    what.add_argument("--package", help="compiled pipeline (default: the checkout's "
                      "pipelines/person_segmentation.yaml, else compiled from this install)")
    what.add_argument("--pipeline-version", metavar="NAME|ID",
                      help="run this version registered by `pipeline upload` (or `latest`), not the local package")
    p.add_argument("--pipeline-name", help="pipeline holding --pipeline-version (default person-segmentation)")
    p.add_argument("--experiment", default="person-segmentation", help="KFP experiment the run is filed under")


def register(sub: argparse._SubParsersAction) -> None:
    """Add `pipeline submit`."""
    p = sub.add_parser("submit", help="start a run on a Kubeflow Pipelines endpoint", description=__doc__)
    run_args(p)
    p.add_argument("--run-name", help="display name of the run (default: KFP's)")
    p.set_defaults(func=handler)


def run_common(args: argparse.Namespace) -> dict[str, Any]:
    """The keyword arguments ``personseg_kfp.remote.submit`` and ``schedule`` share, from ``run_args``."""
    require_kfp()
    from personseg_kfp.object_store import with_endpoint
    from personseg_kfp.params import parse_params
    from personseg_kfp.pipeline import PIPELINE_NAME, default_package, person_segmentation

    package = None if args.pipeline_version else (args.package or default_package())
    params = parse_params(args.param, person_segmentation)
    if "s3_endpoint" not in params:
        params = with_endpoint(params, store(args))
    return {"conn": connection(args), "package": package, "params": params, "experiment": args.experiment,
            "pipeline_version": args.pipeline_version, "pipeline_name": args.pipeline_name or PIPELINE_NAME}


def handler(args: argparse.Namespace) -> int:
    """Submit one run."""
    from personseg_kfp.remote import submit

    run_id = submit(**run_common(args), run_name=args.run_name)
    print(f"submitted run {run_id}")
    return 0
