"""The pipeline's deploy step renders the endpoint, Secret and sizing it was given.

Publishing goes to a real S3 server (weed mini) and the model server behind the service proxy is a
real ``personseg serve``; the Kubernetes API is the STAND-IN from tests/deploy_fixtures.py. What the
real API server does and the stand-in does not: admission (quota, LimitRanges, Pod Security), real
field ownership conflicts between managers (the stand-in accepts every forced apply), and the HPA
controller acting on the replica bounds; those are covered by tests/test_deploy_real_cluster.py
when a KUBECONFIG is given.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import storage_fixtures
from deploy_fixtures import FakeKubeApi, role_rules, start_model_server, tiny_onnx_model

from personseg.errors import UserError
from personseg.steps.deploy import publish_and_deploy, serving_config
from personseg.storage.access import S3Access

s3_server = storage_fixtures.s3_server
s3_env = storage_fixtures.s3_env


def _env(dep: dict) -> dict:
    container = dep["spec"]["template"]["spec"]["containers"][0]
    return {e["name"]: e.get("value", e.get("valueFrom")) for e in container["env"]}


def test_pipeline_deploy_renders_its_endpoint_secret_and_sizing(s3_env, tmp_path: Path) -> None:
    model = tiny_onnx_model(tmp_path / "model")
    server = start_model_server(model, tmp_path / "server.log")
    api = FakeKubeApi(proxy_to=server.url, role_rules=role_rules()).start()
    try:
        s3 = S3Access("https://minio.storage.svc:9443", "team-s3", "AK", "SK")
        serving = {"min_replicas": 2, "max_replicas": 6, "cpu_request": "500m", "cpu_limit": "3",
                   "memory_request": "1Gi", "memory_limit": "2Gi"}
        name = "personseg"  # the only name manifests/rbac lets the runner manage (fresh server per module)
        outcome = publish_and_deploy(model, name, "kubernetes", "serving", {}, s3, serving,
                                     api=api.kube(), poll=0.05)
        assert outcome["status"] == "deployed" and outcome["version"] == 1
        dep = api.get("deployments", "serving", name)
        env = _env(dep)
        assert env["MINIO_ENDPOINT"] == "minio.storage.svc:9443" and env["MINIO_SECURE"] == "true"
        assert env["MINIO_ACCESS_KEY"] == {"secretKeyRef": {"name": "team-s3", "key": "AK"}}
        assert env["MINIO_SECRET_KEY"] == {"secretKeyRef": {"name": "team-s3", "key": "SK"}}
        assert env["PERSONSEG_THREADS"] == "3"  # threads follow the CPU limit it was given
        resources = dep["spec"]["template"]["spec"]["containers"][0]["resources"]
        assert resources == {"requests": {"cpu": "500m", "memory": "1Gi"}, "limits": {"cpu": "3", "memory": "2Gi"}}
        hpa = api.get("horizontalpodautoscalers", "serving", name)
        assert (hpa["spec"]["minReplicas"], hpa["spec"]["maxReplicas"]) == (2, 6)
    finally:
        api.stop()
        server.stop()


def test_an_empty_endpoint_means_the_steps_own(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MINIO_ENDPOINT", "http://10.0.0.5:9000")
    cfg = serving_config("models:/m:1", "kubernetes", "m", "ns")
    assert cfg.s3 == S3Access("10.0.0.5:9000", "personseg-models-reader", secure=False)
    with pytest.raises(UserError, match="unknown field\\(s\\) cpus"):
        serving_config("models:/m:1", "kubernetes", "m", "ns", serving={"cpus": "2"})


@pytest.mark.parametrize(("target", "serving", "says"), [
    ("kube", {}, "--target 'kube': expected one of kubernetes, kserve, local"),
    ("kubernetes", {"min_replicas": 3, "max_replicas": 2}, "need 1 <= min"),
])
def test_a_bad_target_or_sizing_publishes_nothing(s3_env, tmp_path: Path, target: str, serving: dict,
                                                  says: str) -> None:
    """The deploy step refuses before publishing: no version, nothing promoted to candidate."""
    from personseg.storage.registry import Registry

    name = storage_fixtures.unique_name()
    with pytest.raises(UserError, match=says):
        publish_and_deploy(tiny_onnx_model(tmp_path / "model"), name, target, "serving", {}, None, serving)
    assert Registry.from_env().versions(name) == []
