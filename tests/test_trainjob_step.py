"""The pipeline's train step chooses where to train; the TrainJob's namespace is the step's own."""

from __future__ import annotations

from pathlib import Path

import pytest

from personseg.errors import UserError
from personseg.steps.train import Nodes, own_namespace, train_step
from personseg.storage.access import S3Access
from personseg.training.step import TrainConfig


def test_the_namespace_is_the_pods_own(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    sa = tmp_path / "namespace"
    sa.write_text("kubeflow-user-example-com\n")
    assert own_namespace(sa) == "kubeflow-user-example-com"
    kubeconfig = tmp_path / "config"
    kubeconfig.write_text("apiVersion: v1\nkind: Config\ncurrent-context: c\n"
                          "contexts: [{name: c, context: {cluster: k, user: u, namespace: team-a}}]\n"
                          "clusters: [{name: k, cluster: {server: 'http://127.0.0.1:1'}}]\n"
                          "users: [{name: u, user: {}}]\n")
    monkeypatch.setenv("KUBECONFIG", str(kubeconfig))
    assert own_namespace(tmp_path / "missing") == "team-a"  # outside a cluster: the kubeconfig context's
    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "nothing-here"))
    with pytest.raises(UserError, match="cannot tell which namespace"):
        own_namespace(tmp_path / "missing")


def test_bad_node_settings_fail_before_anything_runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    cfg = TrainConfig(data=str(tmp_path / "no-data"), width=8, size=64, epochs=1)
    with pytest.raises(UserError, match="train_nodes 0"):
        train_step(cfg, tmp_path / "m", Nodes(nodes=0))
    with pytest.raises(UserError, match="train_gpus -1"):
        train_step(cfg, tmp_path / "m", Nodes(nodes=1, gpus=-1))
    for var in ("MINIO_ENDPOINT", "AWS_ENDPOINT_URL"):
        monkeypatch.delenv(var, raising=False)
    with pytest.raises(UserError, match="set s3_endpoint"):
        train_step(cfg, tmp_path / "m", Nodes(nodes=2, image="i", s3=S3Access(secret="s")))


def test_one_node_trains_here(tiny_dataset: Path, tmp_path: Path):
    result = train_step(TrainConfig(data=str(tiny_dataset), width=8, size=64, epochs=1, threads=1, workers=0),
                        tmp_path / "m", Nodes(nodes=1, gpus=0))
    assert result.out == tmp_path / "m" and (tmp_path / "m" / "metrics.json").is_file()
    assert not list(tmp_path.glob("m.ckpt*")), "per-epoch state stays out of the artifact's folder"
