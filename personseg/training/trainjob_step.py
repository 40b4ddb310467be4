"""Train on N machines through a Kubeflow Trainer TrainJob, with the same result as ``training.step.run``.

The step pushes its dataset to ``s3://<model bucket>/trainjobs/<job>/data``, creates the TrainJob
(``personseg.training.trainjob``), streams node 0's log into its own, waits, and downloads what
rank 0 uploaded to ``.../<job>/model`` into ``out``. The scratch prefix is removed at the end.

What happens to the TrainJob afterwards (``keep``): ``"failed"`` (default) deletes it when it
completed or ran out of time (a job still running would hold its nodes) and keeps a failed one so
``kubectl describe trainjob`` and its pods' logs can be read; ``"never"`` always deletes it,
``"always"`` never does. A job someone else deleted is gone either way.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from personseg.errors import UserError
from personseg.storage.config import model_bucket
from personseg.training.remote_out import pull_tree, remove_prefix
from personseg.training.step import TrainConfig, TrainResult
from personseg.training.trainjob import NO_SIDECAR, POD_LABEL_FIELDS, NodePool, TrainJobSpec, build_trainjob
from personseg.training.trainjob_api import TrainJobApi, UnknownField
from personseg.training.trainjob_wait import TrainJobFailed, wait_for

KEEP = ("failed", "never", "always")
# TrainConfig field -> `personseg train` flag (the fields the CLI has; the rest must stay default).
FLAGS = {"model": "--model", "decoder": "--decoder", "width": "--width", "size": "--size", "epochs": "--epochs",
         "batch_size": "--batch-size", "lr": "--lr", "weight_decay": "--weight-decay", "seed": "--seed",
         "threads": "--threads", "workers": "--workers", "device": "--device", "precision": "--precision",
         "dist_timeout": "--dist-timeout",
         "composite": "--composite", "photometric": "--photometric", "background_hue": "--background-hue",
         "backgrounds": "--backgrounds"}


@dataclass(frozen=True)
class ClusterConfig:
    """Where and how big (``pool``: nodes, GPUs, sizes, the S3 Secret), and how the step waits."""

    pool: NodePool
    timeout: float = 6 * 3600.0
    poll: float = 5.0
    keep: str = "failed"

    def check(self) -> None:
        """Reject values that cannot work, naming the field."""
        self.pool.check()
        if self.keep not in KEEP:
            raise UserError(f"keep {self.keep!r}: must be one of {', '.join(KEEP)}")
        if self.timeout <= 0:
            raise UserError(f"train_timeout {self.timeout}: must be positive")


def train_args(cfg: TrainConfig) -> list[str]:
    """``personseg train`` flags reproducing ``cfg`` (besides --data/--out) on every node."""
    defaults = TrainConfig(data=cfg.data)
    args: list[str] = []
    for f in fields(TrainConfig):
        value = getattr(cfg, f.name)
        if f.name == "data" or value == getattr(defaults, f.name):
            continue
        if f.name in FLAGS:
            args += [FLAGS[f.name], str(value)]
        elif f.name == "augment":
            args.append("--no-augment")
        elif f.name == "skip_invalid":
            args.append("--skip-invalid")
        elif f.name == "nproc":
            raise UserError(f"nproc={value}: on a TrainJob torchrun starts the ranks (one per node, or per GPU); "
                            "leave nproc at 1")
        else:
            raise UserError(f"{f.name}={value!r}: `personseg train` has no flag for it, so a TrainJob cannot use it")
    return args


def say(line: str) -> None:
    """Print to the step's own log (stdout, which KFP shows): node 0's lines and what the step does."""
    print(line, flush=True)


def train_on_cluster(cfg: TrainConfig, out: str | Path, cluster: ClusterConfig, api_client: Any = None,
                     job: str | None = None, emit: Callable[[str], None] = say,
                     checkpoint_uri: str = "") -> TrainResult:
    """Train ``cfg`` on ``cluster.pool.nodes`` machines into ``out``; ``emit`` gets the progress.

    ``checkpoint_uri`` (``s3://``): where the nodes keep each epoch's state; a retried step that
    passes the same prefix continues after the last complete epoch instead of starting again.
    """
    from personseg.storage.datasets import push_dataset
    from personseg.uris import local_dataset

    cfg.check()
    cluster.check()
    job = job or f"personseg-train-{uuid.uuid4().hex[:8]}"
    scratch = f"s3://{model_bucket()}/trainjobs/{job}"
    pool = cluster.pool
    spec = TrainJobSpec(name=job, pool=pool, data_uri=f"{scratch}/data", model_uri=f"{scratch}/model",
                        train_args=tuple(train_args(cfg)), checkpoint_uri=checkpoint_uri)
    if api_client is None:
        from personseg.kube import connect

        api_client = connect()
    api = TrainJobApi(api_client, pool.namespace)
    try:
        push_dataset(local_dataset(cfg.data), spec.data_uri)
        _create(api, spec, emit)
        emit(f"created TrainJob {pool.namespace}/{job}: {pool.nodes} node(s), {pool.gpus} GPU(s) each, "
             f"image {pool.image}")
        _wait_then_clean(api, job, cluster, emit)
        pull_tree(spec.model_uri, out)
    finally:
        emit(f"removed {remove_prefix(scratch)} scratch object(s) under {scratch}")
    metrics = json.loads((Path(out) / "metrics.json").read_text())
    return TrainResult(Path(out), float(metrics["val_iou"]), int(metrics["best_epoch"]), metrics["history"])


def _create(api: TrainJobApi, spec: TrainJobSpec, emit: Callable[[str], None]) -> dict[str, Any]:
    """Create the TrainJob with the pod labels in the newest form the cluster's Trainer knows."""
    for field_name in POD_LABEL_FIELDS:
        try:
            created = api.create(build_trainjob(spec, field_name))
        except UnknownField as exc:
            if exc.field != field_name:
                raise
            continue
        if not field_name:
            emit(f"warning: this Trainer (v2.0) cannot label a TrainJob's pods: unless the ClusterTrainingRuntime "
                 f"{spec.runtime} labels them {NO_SIDECAR}, an Istio sidecar breaks the nodes' rendezvous "
                 "(docs/kubeflow.md, section 9)")
        return created
    raise AssertionError("unreachable: the last form adds no field")


def _wait_then_clean(api: TrainJobApi, job: str, cluster: ClusterConfig, emit: Callable[[str], None]) -> None:
    """Wait for the job; delete or keep it per ``cluster.keep`` (see the module docstring)."""
    failed = False
    try:
        wait_for(api, job, cluster.timeout, cluster.poll, emit=lambda line: emit(f"[{job} node 0] {line}"))
    except TrainJobFailed as exc:
        failed = exc.outcome == "failed"
        raise
    finally:
        if cluster.keep == "never" or (cluster.keep == "failed" and not failed):
            if api.delete(job):
                emit(f"deleted TrainJob {api.namespace}/{job}")
        else:
            emit(f"kept TrainJob {api.namespace}/{job} (keep={cluster.keep}): "
                 f"kubectl -n {api.namespace} describe trainjob {job}")
