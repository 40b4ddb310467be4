"""The TrainJob object: valid for Kubeflow Trainer's own schema, and it carries what the nodes need.

Schema: the ``kubeflow_trainer_api`` pydantic models (generated from Trainer's OpenAPI spec) must
read the object back unchanged, so a wrong type or a field Trainer does not know fails; plus the
CRD's CEL name rules and the torch webhook's reserved ``PET_*`` rule (tests/trainjob_fixtures.py
``schema_errors``). The real API server also applies the CRD's other CEL rules and defaults; only a
cluster runs those.
"""

from __future__ import annotations

import argparse
import copy
import dataclasses

import pytest
from trainjob_fixtures import schema_errors

from personseg.commands import train as train_command
from personseg.errors import UserError
from personseg.storage.access import S3Access
from personseg.training.step import TrainConfig
from personseg.training.trainjob import NodePool, TrainJobSpec, build_trainjob, node_pod_selector
from personseg.training.trainjob_step import ClusterConfig, train_args
from personseg.training.trainjob_wait import verdict

POOL_FIELDS = {f.name for f in dataclasses.fields(NodePool)}


def spec(**kw) -> TrainJobSpec:
    """A valid job; ``kw`` overrides fields of the job or of its pool."""
    pool = {"namespace": "kubeflow", "image": "registry.example/pipeline:0.1.0", "nodes": 2,
            "s3": S3Access("http://minio-service.kubeflow:9000", "mlpipeline-minio-artifact")}
    job = {"name": "personseg-train-1a2b3c4d", "data_uri": "s3://models/trainjobs/x/data",
           "model_uri": "s3://models/trainjobs/x/model", "train_args": ("--size", "64", "--width", "8")}
    pool.update({k: v for k, v in kw.items() if k in POOL_FIELDS})
    job.update({k: v for k, v in kw.items() if k not in POOL_FIELDS})
    return TrainJobSpec(pool=NodePool(**pool), **job)


@pytest.mark.parametrize("gpus", [0, 2])
def test_the_trainjob_validates_against_trainers_schema(gpus: int):
    obj = build_trainjob(spec(gpus=gpus))
    assert schema_errors(obj) == []
    assert obj["apiVersion"] == "trainer.kubeflow.org/v1alpha1" and obj["kind"] == "TrainJob"
    assert obj["spec"]["runtimeRef"] == {"apiGroup": "trainer.kubeflow.org", "kind": "ClusterTrainingRuntime",
                                         "name": "torch-distributed"}
    trainer = obj["spec"]["trainer"]
    assert trainer["numNodes"] == 2 and trainer["image"] == "registry.example/pipeline:0.1.0"
    assert trainer["command"] == ["torchrun", "-m", "personseg", "train"]
    assert trainer["args"] == ["--data", "s3://models/trainjobs/x/data", "--out", "s3://models/trainjobs/x/model",
                               "--force", "--size", "64", "--width", "8"]
    limits = trainer["resourcesPerNode"]["limits"]
    assert ("nvidia.com/gpu" in limits) == (gpus > 0) and limits.get("nvidia.com/gpu", "0") == str(gpus)
    assert trainer["numProcPerNode"] == max(gpus, 1)  # one process per GPU, else one per node


def test_a_checkpoint_prefix_reaches_every_node_so_a_retried_step_resumes():
    obj = build_trainjob(spec(checkpoint_uri="s3://models/checkpoints/run-1/key"))
    assert schema_errors(obj) == []
    assert obj["spec"]["trainer"]["args"][-2:] == ["--checkpoint-dir", "s3://models/checkpoints/run-1/key"]
    with pytest.raises(UserError, match="checkpoint_uri '/tmp/ckpt'"):
        build_trainjob(spec(checkpoint_uri="/tmp/ckpt"))


def test_s3_keys_are_secret_references_never_values():
    env = {e["name"]: e for e in build_trainjob(spec())["spec"]["trainer"]["env"]}
    for var, key in (("MINIO_ACCESS_KEY", "accesskey"), ("MINIO_SECRET_KEY", "secretkey")):
        assert env[var] == {"name": var, "valueFrom": {"secretKeyRef": {"name": "mlpipeline-minio-artifact",
                                                                        "key": key}}}
    assert env["MINIO_ENDPOINT"]["value"] == "http://minio-service.kubeflow:9000"
    assert not {name for name in env if name.startswith("PET_")}, "the runtime sets PET_*; its webhook refuses ours"


MUTATIONS = {
    "unknown field": lambda o: o["spec"]["trainer"].update(numNode=2),
    "string numNodes": lambda o: o["spec"]["trainer"].update(numNodes="2"),
    "reserved env": lambda o: o["spec"]["trainer"]["env"].append({"name": "PET_NNODES", "value": "2"}),
    "bad name": lambda o: o["metadata"].update(name="Personseg_Train"),
    "no runtimeRef name": lambda o: o["spec"]["runtimeRef"].pop("name"),
    "zero procs": lambda o: o["spec"]["trainer"].update(numProcPerNode=0),
}


@pytest.mark.parametrize("mutation", sorted(MUTATIONS))
def test_the_schema_check_refuses_a_broken_trainjob(mutation: str):
    obj = copy.deepcopy(build_trainjob(spec()))
    MUTATIONS[mutation](obj)
    assert schema_errors(obj), f"{mutation} passed the schema check"


def test_train_args_reproduce_the_config_through_the_cli_parser():
    cfg = TrainConfig(data="/d", width=8, size=64, epochs=3, batch_size=4, lr=3e-3, weight_decay=0.5, seed=7,
                      augment=False, composite=0.25, photometric=0.25, background_hue=0.25, backgrounds="scenes",
                      skip_invalid=True, threads=1, workers=0,
                      device="cpu", precision="bf16", dist_timeout=60.0)
    assert {f.name for f in dataclasses.fields(cfg) if getattr(cfg, f.name) == getattr(TrainConfig("/d"), f.name)} \
        == {"data", "model", "decoder", "nproc"}, "the round trip covers every field the CLI has"
    parser = argparse.ArgumentParser()
    train_command.register(parser.add_subparsers())
    args = parser.parse_args(["train", "--data", "/d", "--out", "s3://m/o", *train_args(cfg)])
    assert train_command.config_from_args(args) == cfg
    with pytest.raises(UserError, match="nproc=2"):
        train_args(TrainConfig(data="/d", nproc=2))


def test_bad_settings_name_the_field():
    with pytest.raises(UserError, match="train_nodes 0"):
        build_trainjob(spec(nodes=0))
    with pytest.raises(UserError, match="data_uri"):
        build_trainjob(spec(data_uri="/local/path"))
    with pytest.raises(UserError, match="DNS label"):
        build_trainjob(spec(name="x" * 64))
    with pytest.raises(UserError, match="keep 'sometimes'"):
        pool = NodePool(nodes=2, namespace="n", image="i", s3=S3Access("e", "s"))
        ClusterConfig(pool, keep="sometimes").check()


def test_verdict_reads_the_finished_conditions_only():
    assert verdict({"status": {"conditions": [{"type": "Suspended", "status": "True"}]}}) is None
    assert verdict({"status": {"conditions": [{"type": "Failed", "status": "False"}]}}) is None
    assert verdict({"status": {"conditions": [{"type": "Complete", "status": "True", "reason": "AllJobsCompleted",
                                               "message": "done"}]}}) == ("Complete", "AllJobsCompleted: done")
    assert verdict({"status": {"conditions": [{"type": "Failed", "status": "True", "reason": "DeadlineExceeded"}]}}) \
        == ("Failed", "DeadlineExceeded")


def test_node_pods_are_selected_by_jobsets_labels():
    assert node_pod_selector("j") == ("jobset.sigs.k8s.io/jobset-name=j,jobset.sigs.k8s.io/replicatedjob-name=node,"
                                      "batch.kubernetes.io/job-completion-index=0")
    assert node_pod_selector("j", None) == "jobset.sigs.k8s.io/jobset-name=j,jobset.sigs.k8s.io/replicatedjob-name=node"


@pytest.mark.parametrize("form", ["runtimePatches", "podTemplateOverrides"])
def test_the_node_pods_turn_the_istio_sidecar_off_in_each_trainers_form(form: str):
    from trainjob_fixtures import node_pod_labels

    obj = build_trainjob(spec(), form)
    assert schema_errors(obj) == []
    assert node_pod_labels(obj) == {"sidecar.istio.io/inject": "false"}


@pytest.mark.parametrize(("version", "form"), [("v2.3.0", "runtimePatches"), ("v2.2.0", "runtimePatches"),
                                               ("v2.1.0", "podTemplateOverrides"), ("v2.0.0", "")])
def test_the_step_creates_the_job_in_the_newest_form_the_clusters_trainer_knows(version: str, form: str):
    # The stand-in's CRD has the TrainJobSpec fields of `version` (kubeflow/trainer trainjob_types.go at
    # that tag) and refuses unknown ones under fieldValidation=Strict, as the API server does.
    from trainjob_fixtures import FakeTrainerApi, node_pod_labels

    from personseg.training.trainjob_api import TrainJobApi
    from personseg.training.trainjob_step import _create

    api = FakeTrainerApi(trainer_version=version).start()
    said: list[str] = []
    try:
        _create(TrainJobApi(api.client(), "kubeflow"), spec(), said.append)
        stored = api.get("trainjobs", "kubeflow", "personseg-train-1a2b3c4d")
    finally:
        api.stop()
    assert ("runtimePatches" in stored["spec"], "podTemplateOverrides" in stored["spec"]) == (
        form == "runtimePatches", form == "podTemplateOverrides")
    assert node_pod_labels(stored) == ({} if not form else {"sidecar.istio.io/inject": "false"})
    assert [line for line in said if "warning" in line] == ([] if form else [
        "warning: this Trainer (v2.0) cannot label a TrainJob's pods: unless the ClusterTrainingRuntime "
        "torch-distributed labels them {'sidecar.istio.io/inject': 'false'}, an Istio sidecar breaks the nodes' "
        "rendezvous (docs/kubeflow.md, section 9)"])


def test_a_trainjob_whose_runtime_is_not_installed_is_refused_by_trainers_webhook():
    from trainjob_fixtures import FakeTrainerApi

    from personseg.kube import KubeError
    from personseg.training.trainjob_api import TrainJobApi
    from personseg.training.trainjob_step import _create

    api = FakeTrainerApi(runtimes=()).start()
    try:
        with pytest.raises(KubeError) as info:
            _create(TrainJobApi(api.client(), "kubeflow"), spec(), print)
    finally:
        api.stop()
    assert "refused by an admission webhook" in str(info.value) and "forbidden by RBAC" not in str(info.value)
    assert 'clustertrainingruntimes.trainer.kubeflow.org "torch-distributed" not found' in str(info.value)
