"""`personseg pipeline upload`: register the compiled pipeline in KFP as a version (once per spec)."""

from __future__ import annotations

import argparse

from personseg.commands.pipeline import connection, connection_args, require_kfp, store, store_args


def register(sub: argparse._SubParsersAction) -> None:
    """Add `pipeline upload`."""
    up = sub.add_parser("upload", help="register the compiled pipeline in KFP as a version (once per spec)",
                        description=__doc__)
    connection_args(up)
    store_args(up)
    up.add_argument("--package", help="compiled pipeline (default: the checkout's "
                    "pipelines/person_segmentation.yaml, else compiled from this install)")
    up.add_argument("--name", help="pipeline name in KFP (default: the package's, person-segmentation)")
    up.add_argument("--version", help="name of a new version (default <personseg version>-<spec sha12>)")
    up.set_defaults(func=handler)


def handler(args: argparse.Namespace) -> int:
    """Register the package (with the store's endpoint as its default); print the version found or made."""
    import tempfile
    from pathlib import Path

    require_kfp()
    from personseg_kfp.object_store import package_with_endpoint
    from personseg_kfp.pipeline import default_package
    from personseg_kfp.upload import upload

    found = store(args)
    with tempfile.TemporaryDirectory(prefix="personseg-upload-") as tmp:
        package = package_with_endpoint(args.package or default_package(), found, Path(tmp))
        v = upload(connection(args), package, args.name, args.version)
    print(f"pipeline {v.pipeline} ({v.pipeline_id}): {v.action} version {v.name} (id {v.version_id})")
    return 0
