"""`personseg pipeline ...`: one module per sub-command in this package (compile, run, upload, submit, schedule).

The pipeline and its components live in the ``personseg_kfp`` package (installed with personseg; it
imports kfp, which the library never does), so handlers import it lazily: ``pip install
'personseg[pipeline]'`` is all these commands need, no checkout. What the sub-commands that talk to a
Kubeflow Pipelines API share (where it is, where its object store is) is defined here once.
"""

from __future__ import annotations

import argparse
from typing import Any

from personseg.commands._group import register_group
from personseg.errors import UserError


def register(sub: argparse._SubParsersAction) -> None:
    """Add the `pipeline` group."""
    register_group(sub, "pipeline", "compile, run locally, upload, submit or schedule the Kubeflow pipeline",
                   __name__)


def require_kfp() -> None:
    """One line naming the install command when the pipeline extra is missing."""
    import importlib.util

    if importlib.util.find_spec("kfp") is None:
        raise UserError("`personseg pipeline` needs kfp: pip install 'personseg[pipeline]'")


def connection_args(p: argparse.ArgumentParser) -> None:
    """Where the KFP API answers and how to authenticate to it."""
    p.add_argument("--host", required=True, help="KFP API endpoint, e.g. http://localhost:8888")
    p.add_argument("--namespace", help="Kubeflow profile namespace (multi-user deployments)")
    p.add_argument("--token-env", default="KFP_TOKEN", help="environment variable holding a bearer token")
    p.add_argument("--ssl-ca-cert", help="CA bundle for a TLS endpoint")


def store_args(p: argparse.ArgumentParser) -> None:
    """Where the pods find the object store (given, or looked up in the cluster)."""
    p.add_argument("--s3-endpoint", help="S3 endpoint of the object store, as the pods reach it (default: found in "
                   "the cluster through kubeconfig: KFP's kfp-launcher ConfigMap, else Service seaweedfs or "
                   "minio-service; without cluster access each step finds it)")
    p.add_argument("--kfp-namespace", default="kubeflow", help="namespace KFP is installed in (default kubeflow)")


def connection(args: argparse.Namespace) -> Any:
    """The KFP API connection ``connection_args`` describe."""
    from personseg_kfp.connection import Connection

    return Connection(args.host, args.namespace, args.token_env, args.ssl_ca_cert)


def store(args: argparse.Namespace) -> Any:
    """The object store's endpoint for the run (or None: the steps find it), saying where it came from."""
    from personseg_kfp.object_store import find_store

    found, line = find_store(args.s3_endpoint, args.namespace, args.kfp_namespace)
    print(line)
    return found
