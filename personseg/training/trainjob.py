"""The Kubeflow Trainer v2 TrainJob that trains across machines: ``torchrun -m personseg train`` per node.

Kubeflow Trainer's torch runtime (``ClusterTrainingRuntime`` ``torch-distributed``) runs the trainer
container once per node and sets the variables torchrun reads as defaults for its flags:
``PET_NNODES``, ``PET_NPROC_PER_NODE``, ``PET_NODE_RANK`` (the Job completion index),
``PET_MASTER_ADDR`` (node 0's pod, ``<job>-node-0-0.<job>``) and ``PET_MASTER_PORT`` (29500); see
kubeflow/trainer ``pkg/runtime/framework/plugins/torch/torch.go`` (``EnforceMLPolicy``) and the names
in ``pkg/constants/constants.go`` (``TorchEnvNumNodes`` ...). Its webhook rejects a TrainJob that sets
any of them itself, so the command passes no rendezvous flags: torchrun takes them from the
environment. Data comes from an ``s3://`` prefix and rank 0 writes the model to another
(``personseg train --out s3://...``); S3 keys reach the pods only as ``secretKeyRef`` to the
pipeline's Secret, never as values.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from personseg.errors import UserError
from personseg.storage.access import S3Access
from personseg.storage.config import ENDPOINT_VARS

GROUP = "trainer.kubeflow.org"
VERSION = "v1alpha1"
API_VERSION = f"{GROUP}/{VERSION}"
PLURAL = "trainjobs"
RUNTIME = "torch-distributed"
GPU_RESOURCE = "nvidia.com/gpu"
# The trainer container and the labels JobSet puts on its pods (kubeflow/trainer pkg/constants
# ``Node``; the kubeflow SDK's ``POD_LABEL_SELECTOR`` selects trainer pods by the same labels).
NODE_CONTAINER = "node"
JOBSET_NAME_LABEL = "jobset.sigs.k8s.io/jobset-name"
REPLICATED_JOB_LABEL = "jobset.sigs.k8s.io/replicatedjob-name"
COMPLETION_INDEX_LABEL = "batch.kubernetes.io/job-completion-index"
# Reserved by Trainer's torch plugin (pkg/constants TorchRunReservedEnvNames): set by the runtime only.
RESERVED_ENV = ("PET_NNODES", "PET_NPROC_PER_NODE", "PET_NODE_RANK", "PET_MASTER_ADDR", "PET_MASTER_PORT")
PART_OF = {"app.kubernetes.io/part-of": "personseg", "app.kubernetes.io/component": "train"}
# Istio's sidecar breaks torch's rendezvous between the nodes (kubeflow/trainer#2794); Kubeflow profile
# namespaces inject it, so every node pod carries the label that turns it off.
NO_SIDECAR = {"sidecar.istio.io/inject": "false"}
# Where a TrainJob can set its pods' labels, newest Trainer first (kubeflow/trainer
# pkg/apis/trainer/v1alpha1/trainjob_types.go): spec.runtimePatches from v2.2.0,
# spec.podTemplateOverrides[].metadata in v2.1.x, nowhere in v2.0.x ("": the runtime must set it).
POD_LABEL_FIELDS = ("runtimePatches", "podTemplateOverrides", "")
PATCH_MANAGER = "personseg"
_NAME = re.compile(r"[a-z]([-a-z0-9]{0,61}[a-z0-9])?")


@dataclass(frozen=True)
class NodePool:
    """The TrainJob's machines: how many, what each gets, and how its pods reach S3 (keys by Secret reference).

    One value shared by the job object and the step that waits for it (``cluster.ClusterConfig``).
    """

    nodes: int
    namespace: str
    image: str
    s3: S3Access
    gpus: int = 0
    cpu: str = "2"
    memory: str = "4Gi"

    def check(self) -> None:
        """Refuse what the API server or the runtime would refuse later, naming the field."""
        if self.nodes < 1:
            raise UserError(f"train_nodes {self.nodes}: must be >= 1")
        if self.gpus < 0:
            raise UserError(f"train_gpus {self.gpus}: must be >= 0")
        given = {"namespace": self.namespace, "image": self.image, "secret": self.s3.secret,
                 "s3_endpoint": self.s3.endpoint}
        for name, value in given.items():
            if not value:
                raise UserError(f"TrainJob {name}: must not be empty")


@dataclass(frozen=True)
class TrainJobSpec:
    """One job on ``pool``: its name, data and model prefixes; ``train_args`` are ``personseg train`` flags.

    ``checkpoint_uri``: the ``s3://`` prefix rank 0 keeps each epoch's state under, so a job started
    again for the same run (a retried step) continues after its last complete epoch.
    """

    name: str
    pool: NodePool
    data_uri: str
    model_uri: str
    train_args: tuple[str, ...] = field(default_factory=tuple)
    runtime: str = RUNTIME
    checkpoint_uri: str = ""

    def check(self) -> None:
        """Refuse what the API server or the runtime would refuse later, naming the field."""
        if not _NAME.fullmatch(self.name):
            raise UserError(f"TrainJob name {self.name!r}: must be a DNS label (a-z, 0-9, '-'), at most 63 chars")
        self.pool.check()
        for name in ("data_uri", "model_uri", "checkpoint_uri"):
            if (name != "checkpoint_uri" or self.checkpoint_uri) and not getattr(self, name).startswith("s3://"):
                raise UserError(f"{name} {getattr(self, name)!r}: the nodes read and write S3, so it must be s3://")


def node_pod_selector(job: str, index: int | None = 0) -> str:
    """The label selector of trainer node ``index``'s pod(s) of TrainJob ``job`` (every node's with None)."""
    nodes = f"{JOBSET_NAME_LABEL}={job},{REPLICATED_JOB_LABEL}={NODE_CONTAINER}"
    return nodes if index is None else f"{nodes},{COMPLETION_INDEX_LABEL}={index}"


def _pod_labels(field_name: str, labels: dict[str, str]) -> dict[str, Any]:
    """The TrainJob spec fields that put ``labels`` on the node pods, in Trainer's form for ``field_name``."""
    if field_name == "runtimePatches":
        pod = {"spec": {"template": {"metadata": {"labels": dict(labels)}}}}
        return {"runtimePatches": [{"manager": PATCH_MANAGER, "trainingRuntimeSpec": {"template": {"spec": {
            "replicatedJobs": [{"name": NODE_CONTAINER, "template": pod}]}}}}]}
    if field_name == "podTemplateOverrides":
        return {"podTemplateOverrides": [{"targetJobs": [{"name": NODE_CONTAINER}],
                                          "metadata": {"labels": dict(labels)}}]}
    return {}


def build_trainjob(spec: TrainJobSpec, pod_labels: str = POD_LABEL_FIELDS[0]) -> dict[str, Any]:
    """The TrainJob object (a plain dict, as the API server takes it).

    ``pod_labels`` names the field that turns the Istio sidecar off on the node pods (``POD_LABEL_FIELDS``).
    """
    spec.check()
    pool = spec.pool
    resources: dict[str, Any] = {"requests": {"cpu": pool.cpu, "memory": pool.memory},
                                 "limits": {"cpu": pool.cpu, "memory": pool.memory}}
    if pool.gpus:
        resources["requests"][GPU_RESOURCE] = str(pool.gpus)
        resources["limits"][GPU_RESOURCE] = str(pool.gpus)
    env = [
        {"name": ENDPOINT_VARS[0], "value": pool.s3.endpoint},
        *pool.s3.key_env(),
        {"name": "PYTHONUNBUFFERED", "value": "1"},  # log lines reach the step as they are written
    ]
    return {
        "apiVersion": API_VERSION,
        "kind": "TrainJob",
        "metadata": {"name": spec.name, "namespace": pool.namespace, "labels": dict(PART_OF)},
        "spec": {
            "runtimeRef": {"apiGroup": GROUP, "kind": "ClusterTrainingRuntime", "name": spec.runtime},
            "trainer": {
                "numNodes": pool.nodes,
                # One process per GPU, else one per node: the CPU threads are the process's own.
                "numProcPerNode": pool.gpus or 1,
                "image": pool.image,
                "command": ["torchrun", "-m", "personseg", "train"],
                # --force: the scratch prefix is this job's own, and a restarted rank 0 uploads to it again
                "args": ["--data", spec.data_uri, "--out", spec.model_uri, "--force", *spec.train_args,
                         *(["--checkpoint-dir", spec.checkpoint_uri] if spec.checkpoint_uri else [])],
                "resourcesPerNode": resources,
                "env": env,
            },
            **_pod_labels(pod_labels, NO_SIDECAR),
        },
    }
