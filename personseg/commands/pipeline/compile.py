"""`personseg pipeline compile`: write the pipeline's IR YAML (what `upload` registers and a cluster runs)."""

from __future__ import annotations

import argparse

from personseg.commands.pipeline import require_kfp


def register(sub: argparse._SubParsersAction) -> None:
    """Add `pipeline compile`."""
    comp = sub.add_parser("compile", help="write the pipeline's IR YAML", description=__doc__)
    comp.add_argument("-o", "--output", help="file to write (default pipelines/person_segmentation.yaml in a "
                      "checkout, else ./person_segmentation.yaml)")
    comp.add_argument("--access-key-field", default="accesskey", help="key of the S3 access key in the Secret")
    comp.add_argument("--secret-key-field", default="secretkey", help="key of the S3 secret key in the Secret")
    comp.set_defaults(func=handler)


def handler(args: argparse.Namespace) -> int:
    """Compile to YAML."""
    require_kfp()
    from personseg_kfp.pipeline import compile_pipeline, default_output

    out = compile_pipeline(args.output or default_output(), args.access_key_field, args.secret_key_field)
    print(out)
    return 0
