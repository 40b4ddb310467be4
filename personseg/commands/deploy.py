"""`personseg deploy`: put a model version in front of users (Kubernetes, KServe or a local process)."""

from __future__ import annotations

import argparse
import json
import sys


def register(sub: argparse._SubParsersAction) -> None:
    """Add the `deploy` command."""
    from personseg.deploy.config import SERVING_SECRET

    p = sub.add_parser(
        "deploy",
        help="deploy a model: apply, wait for the rollout, smoke-test, roll back on failure",
        description="Deploy a model version. On success a models:/ version is promoted to production; "
        "on failure the previous state is restored and the version is marked rolled-back.",
    )
    p.add_argument("--model", help="models:/NAME@STAGE, models:/NAME:VERSION, s3://... or a local dir (required, "
                   "except with --stop)")
    p.add_argument("--target", choices=("kubernetes", "kserve", "local", "container"), default="kubernetes",
                   help="a Deployment and Service, a KServe InferenceService, a server process on this machine, or "
                   "the serving image as a container on this machine (Docker, else podman)")
    p.add_argument("--namespace", help="target namespace (default: $PERSONSEG_NAMESPACE, the pod's own, or personseg)")
    p.add_argument("--name", default="personseg", help="name of the Deployment/Service/InferenceService")
    p.add_argument("--image", help="serving image (default: from the package version, $PERSONSEG_IMAGE_REGISTRY)")
    p.add_argument("--timeout", type=float, default=300.0, help="seconds to wait for the rollout or readiness")
    p.add_argument("--dry-run", action="store_true", help="print the objects as YAML and change nothing")
    p.add_argument("--min-replicas", type=int, default=1, help="fewest serving pods (autoscaling)")
    p.add_argument("--max-replicas", type=int, default=4, help="most serving pods (autoscaling)")
    p.add_argument("--cpu-limit", default="2", help="CPU limit; PERSONSEG_THREADS follows it")
    p.add_argument("--s3-endpoint", default="seaweedfs.kubeflow:9000",
                   help="S3 endpoint as seen from the pods (KFP 2.15+: seaweedfs.kubeflow:9000; MinIO, up to KFP 2.14: "
                   "minio-service.kubeflow:9000)")
    p.add_argument("--s3-secret", default=SERVING_SECRET,
                   help="Secret with keys accesskey/secretkey that the pods read S3 credentials from: a read-only "
                        "key on the model bucket (docs/kubeflow.md)")
    p.add_argument("--context", help="kubeconfig context (default: current, or in-cluster)")
    p.add_argument("--state-dir", help="local and container targets: where running servers are recorded (default "
                   "$PERSONSEG_DEPLOY_STATE, else runs/deploy)")
    p.add_argument("--stop", action="store_true",
                   help="stop the server recorded as --name and exit: its container with --target container, else "
                   "the local server process")
    p.set_defaults(func=handler)


def handler(args: argparse.Namespace) -> int:
    """Build the config, then render (dry run), stop, or deploy."""
    from personseg.deploy.config import DeployConfig, default_namespace
    from personseg.deploy.step import render, run
    from personseg.errors import UserError
    from personseg.image_refs import serving_image
    from personseg.storage.access import S3Access

    if args.stop and args.target == "container":
        from personseg.deploy.container import stop_command as stop_container
        from personseg.deploy.local import state_dir

        stopped = stop_container(state_dir(args.state_dir), args.name)
        print(f"stopped {args.name}: container {stopped['name']} serving {stopped['model']} at {stopped['url']}")
        return 0
    if args.stop:
        from personseg.deploy.local import state_dir, stop_command

        stopped = stop_command(state_dir(args.state_dir), args.name)
        print(f"stopped {args.name}: pid {stopped['pid']} serving {stopped['model']} at {stopped['url']}")
        return 0
    if not args.model:
        raise UserError("--model: required (except with --stop)")

    cfg = DeployConfig(
        model=args.model,
        target=args.target,
        name=args.name,
        namespace=args.namespace or default_namespace(),
        image=args.image or serving_image(),
        min_replicas=args.min_replicas,
        max_replicas=args.max_replicas,
        cpu_limit=args.cpu_limit,
        s3=S3Access(args.s3_endpoint, args.s3_secret),
        timeout=args.timeout,
    )
    if args.dry_run:
        sys.stdout.write(render(cfg))
        return 0
    result = run(cfg, context=args.context, state_dir=args.state_dir)
    print(json.dumps(result.to_dict(), indent=2, sort_keys=True))
    return 0
