"""Training across machines through a TrainJob, against a STAND-IN API server and a STAND-IN Trainer controller.

What is real here: the ``kubernetes`` client's HTTP calls (create, poll, list pods, a followed log
stream), the TrainJob object checked against Kubeflow Trainer's schema on create, the RBAC Role of
manifests/rbac/trainjob enforced on every call, the S3 server (``weed mini``) that carries the data
and the model, and each node: the job's own command (``torchrun -m personseg train ...``) run as a
process with the ``PET_*`` variables Trainer's torch runtime sets, so torchrun's static rendezvous
and the ranks on 127.0.0.1 are real.

What the real Trainer and cluster do that the stand-ins do not (also in tests/trainjob_fixtures.py):
JobSet/Job objects, scheduling each node onto its own machine with the requested CPU, memory and
GPUs, the headless Service and DNS for ``PET_MASTER_ADDR`` (127.0.0.1 here), image pulls (the nodes
run this checkout), pod restarts, ``activeDeadlineSeconds``, the ClusterTrainingRuntime's defaults,
admission and CEL rules beyond the name rules, and garbage collection timing. Nothing here proves
the job runs on a real cluster; docs/kubeflow.md says so.
"""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import pytest
import storage_fixtures
import yaml
from storage_fixtures import MODEL_BUCKET
from trainjob_fixtures import ROOT, FakeTrainerApi, TrainerController

from personseg.models.checkpoint import load_model
from personseg.storage.access import S3Access
from personseg.storage.client import Store
from personseg.training.step import TrainConfig
from personseg.training.trainjob import NodePool
from personseg.training.trainjob_api import TrainJobApi
from personseg.training.trainjob_step import ClusterConfig, train_on_cluster
from personseg.training.trainjob_wait import TrainJobFailed

s3_server = storage_fixtures.s3_server
s3_env = storage_fixtures.s3_env
NAMESPACE = "kubeflow"
SECRET = "mlpipeline-minio-artifact"


def trainjob_rules() -> list[dict]:
    return yaml.safe_load((ROOT / "manifests" / "rbac" / "trainjob" / "role.yaml").read_text())["rules"]


@pytest.fixture
def trainer(s3_env, tmp_path: Path):
    """Makes a stand-in API (enforcing the TrainJob Role) with the S3 Secret, and its controller."""
    made: list[tuple[FakeTrainerApi, TrainerController]] = []

    def make(node_env: dict[int, dict[str, str]] | None = None) -> tuple[FakeTrainerApi, TrainerController]:
        api = FakeTrainerApi(role_rules=trainjob_rules()).start()
        api.put_secret(NAMESPACE, SECRET, {"accesskey": s3_env.access_key, "secretkey": s3_env.secret_key})
        controller = TrainerController(api, tmp_path / f"nodes-{len(made)}", node_env=node_env)
        made.append((api, controller))
        return api, controller

    yield make
    for api, controller in made:
        controller.stop()
        api.stop()


def config(tiny_dataset: Path) -> TrainConfig:
    return TrainConfig(data=str(tiny_dataset), width=8, size=64, epochs=1, threads=1, workers=0)


def cluster(s3_env, **kw) -> ClusterConfig:
    pool = NodePool(nodes=2, namespace=NAMESPACE, image="personseg-pipeline:test", s3=S3Access(s3_env.endpoint, SECRET))
    return ClusterConfig(**{"pool": pool, "poll": 0.2, "timeout": 600, **kw})


def scratch_left(job: str) -> list[str]:
    return [o.key for o in Store.from_env().list(MODEL_BUCKET, f"trainjobs/{job}/")]


def test_two_nodes_train_and_the_step_returns_rank_0s_model(trainer, s3_env, tiny_dataset: Path, tmp_path: Path):
    api, controller = trainer()
    lines: list[str] = []
    job = "personseg-train-ok"
    out = tmp_path / "model"
    result = train_on_cluster(config(tiny_dataset), out, cluster(s3_env), api_client=api.client(), job=job,
                              emit=lines.append)
    # the model is rank 0's: the score node 0 printed after uploading it is the one the step returns
    model_uri = f"s3://{MODEL_BUCKET}/trainjobs/{job}/model"
    printed = [line for line in lines if f"{model_uri}: best val IoU" in line]
    assert len(printed) == 1 and printed[0].startswith(f"[{job} node 0] "), lines[-20:]
    assert f"best val IoU {result.best_val_iou:.4f} at epoch {result.best_epoch}" in printed[0]
    assert load_model(out) is not None and (out / "metrics.json").is_file()
    assert json.loads((out / "config.json").read_text())["train"]["width"] == 8
    # the nodes were one gloo process group of two ranks (torchrun's static rendezvous from PET_*)
    node1 = controller.runs[job][1].log.read_text()
    assert any(line.startswith(f"[{job} node 0] rank 0/2 joined the gloo group at 127.0.0.1:") for line in lines)
    assert "rank 1/2 joined the gloo group at 127.0.0.1:" in node1, node1[-2000:]
    assert "best val IoU" not in node1, "only rank 0 writes and reports the model"
    # every node ran the job's command with the variables Trainer's torch runtime sets
    envs = controller.envs[job]
    assert [e["PET_NODE_RANK"] for e in envs] == ["0", "1"] and {e["PET_NNODES"] for e in envs} == {"2"}
    assert all(e["MINIO_SECRET_KEY"] == s3_env.secret_key for e in envs)  # resolved from the Secret by the "kubelet"
    created = next(r.body for r in api.calls("POST"))
    assert s3_env.secret_key not in json.dumps(created) and s3_env.access_key not in json.dumps(created)
    # done: the TrainJob is deleted (keep="failed") and the scratch prefix (data, model) is gone
    assert api.get("trainjobs", NAMESPACE, job) is None
    assert scratch_left(job) == []
    assert any(line == f"deleted TrainJob {NAMESPACE}/{job}" for line in lines)


def test_a_failing_node_fails_the_step_with_the_jobs_reason(trainer, s3_env, tiny_dataset: Path, tmp_path: Path):
    # node 1 gets a wrong S3 key, so its `personseg train` cannot read the data and exits 1
    api, _ = trainer(node_env={1: {"MINIO_SECRET_KEY": "not-the-key", "PERSONSEG_S3_RETRIES": "0"}})
    job = "personseg-train-bad"
    with pytest.raises(TrainJobFailed) as info:
        train_on_cluster(config(tiny_dataset), tmp_path / "model", cluster(s3_env), api_client=api.client(), job=job,
                         emit=lambda line: None)
    msg = str(info.value)
    assert info.value.outcome == "failed"
    assert f"TrainJob {NAMESPACE}/{job} failed: FailedJobs: jobset failed due to one or more job failures" in msg
    assert "node 1: exit code 1 (Error)" in msg, msg
    assert not (tmp_path / "model").exists()
    assert api.get("trainjobs", NAMESPACE, job) is not None, "a failed TrainJob is kept for kubectl describe"
    assert scratch_left(job) == []


def test_a_trainjob_deleted_while_waiting_fails_the_step(trainer, s3_env, tiny_dataset: Path, tmp_path: Path):
    api, controller = trainer()
    job = "personseg-train-gone"

    def delete_once_running() -> None:
        end = time.monotonic() + 120
        while time.monotonic() < end and not controller.runs.get(job):
            time.sleep(0.1)
        TrainJobApi(api.client(), NAMESPACE).delete(job)  # someone runs kubectl delete trainjob

    deleter = threading.Thread(target=delete_once_running)
    deleter.start()
    with pytest.raises(TrainJobFailed, match=f"TrainJob {NAMESPACE}/{job} was deleted while the step waited") as info:
        train_on_cluster(config(tiny_dataset), tmp_path / "model", cluster(s3_env), api_client=api.client(), job=job,
                         emit=lambda line: None)
    deleter.join()
    assert info.value.outcome == "deleted"
    controller.join(60)
    assert all(run.proc.poll() is not None for run in controller.runs[job]), "the deleted job's nodes still run"
    assert scratch_left(job) == []


def test_a_job_that_does_not_finish_in_time_is_deleted(trainer, s3_env, tiny_dataset: Path, tmp_path: Path):
    api, controller = trainer()
    job = "personseg-train-slow"
    with pytest.raises(TrainJobFailed, match=r"did not finish within 1s \(train_timeout\)") as info:
        train_on_cluster(config(tiny_dataset), tmp_path / "model", cluster(s3_env, timeout=1.0),
                         api_client=api.client(), job=job, emit=lambda line: None)
    assert info.value.outcome == "timeout"
    assert api.get("trainjobs", NAMESPACE, job) is None, "a job past its time would hold its nodes"
