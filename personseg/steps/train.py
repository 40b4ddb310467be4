"""The pipeline's train step: in its own pod (one node), or as a Kubeflow TrainJob over ``nodes`` machines.

With one node the step trains in place as it always has (its GPUs, if any, were requested on the
step itself at compile time). With more it creates a TrainJob in the namespace the step runs in,
because the pods take the S3 keys from the pipeline's Secret by ``secretKeyRef`` and a Secret is only
visible in its own namespace; the TrainJob runs the step's own image.

Either way each epoch's state goes to ``s3://<model bucket>/checkpoints/<run>/<retrain key hash>``
when the step has S3, so KFP's retry of a preempted or failed task continues after the last
complete epoch; the prefix is removed once the model is written.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

from personseg.errors import UserError
from personseg.steps.train_pod_gpus import check_nodes, check_ranks
from personseg.storage.access import S3Access
from personseg.training.step import TrainConfig, TrainResult, run
from personseg.training.trainjob import NodePool

SERVICE_ACCOUNT_NAMESPACE = Path("/var/run/secrets/kubernetes.io/serviceaccount/namespace")


@dataclass(frozen=True)
class Nodes:
    """How many machines, GPUs per machine, and what a TrainJob needs to reach S3."""

    nodes: int = 1
    gpus: int = 0
    image: str = ""
    s3: S3Access = S3Access()

    def pool(self, namespace: str, s3_endpoint: str) -> NodePool:
        """The TrainJob's machines, once the step knows its namespace and the S3 endpoint."""
        return NodePool(nodes=self.nodes, namespace=namespace, image=self.image,
                        s3=dataclasses.replace(self.s3, endpoint=s3_endpoint), gpus=self.gpus)


def own_namespace(sa_file: Path = SERVICE_ACCOUNT_NAMESPACE) -> str:
    """The namespace this pod runs in; outside a cluster, the kubeconfig context's namespace."""
    if sa_file.is_file():
        return sa_file.read_text().strip()
    try:
        from kubernetes import config

        # read KUBECONFIG now: the client's default location is fixed when it is first imported
        path = os.path.expanduser(os.environ.get("KUBECONFIG", "~/.kube/config"))
        _, current = config.list_kube_config_contexts(path)
    except Exception as exc:  # noqa: BLE001 - kubeconfig missing or unreadable: one clear error below
        raise UserError(f"train_nodes > 1: not in a cluster ({sa_file} missing) and no kubeconfig context "
                        f"({exc}); cannot tell which namespace to create the TrainJob in") from None
    return str(current.get("context", {}).get("namespace") or "default")


def checkpoint_place(run_id: str, retrain_key: str) -> str | None:
    """The S3 prefix a retry of this run's train task finds; None without a run id or S3 (a local run)."""
    from personseg.steps.storage_env import storage_configured
    from personseg.storage.config import model_bucket

    if not run_id.strip() or not storage_configured():
        return None
    key = hashlib.sha256(retrain_key.encode()).hexdigest()[:16]
    return f"s3://{model_bucket()}/checkpoints/{run_id.strip()}/{key}"


def train_step(cfg: TrainConfig, out: str | Path, nodes: Nodes, run_id: str = "", retrain_key: str = "") -> TrainResult:
    """Train ``cfg`` into ``out`` here (one node) or through a TrainJob (more), resuming a retried run."""
    from personseg.steps.storage_env import use_endpoint
    from personseg.training.remote_out import remove_prefix

    check_nodes(nodes.nodes, nodes.gpus)
    check_ranks(cfg.batch_size, nodes.nodes, nodes.gpus)
    use_endpoint(nodes.s3.endpoint)
    place = checkpoint_place(run_id, retrain_key)
    if nodes.nodes == 1:
        with tempfile.TemporaryDirectory(prefix="personseg-train-") as scratch:
            result = run(cfg, out, checkpoint_dir=place or scratch)
    else:
        from personseg.training.trainjob_step import ClusterConfig, train_on_cluster

        endpoint = nodes.s3.endpoint.strip() or os.environ.get("MINIO_ENDPOINT", "")
        if not endpoint:
            raise UserError("train_nodes > 1: the nodes need S3 for data and model; set s3_endpoint")
        result = train_on_cluster(cfg, out, ClusterConfig(nodes.pool(own_namespace(), endpoint)),
                                  checkpoint_uri=place or "")
    if place:
        remove_prefix(place)
    return result
