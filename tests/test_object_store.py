"""Which S3 endpoint a run gets: given, found through the Kubernetes API, or found by DNS in the pod.

The Kubernetes API is the STAND-IN of tests/deploy_fixtures.py (``FakeKubeApi``), seeded with the
objects a KFP install has: Service ``seaweedfs`` (kubeflow/pipelines 2.15.0+, ``manifests/kustomize/
third-party/seaweedfs/base/seaweedfs/seaweedfs-service.yaml``), ``minio-service`` (up to 2.15.0) and
the ``kfp-launcher`` ConfigMap whose ``providers`` KFP's launcher reads (``backend/src/v2/config/
env.go``; the cases are those of ``backend/src/v2/config/testdata/provider_cases.yaml``, 2.16.0).
What the real API server does that the stand-in does not: RBAC on ConfigMaps and Services (a user
who may not read them gets no endpoint found, and the steps look by DNS). DNS is a function the
tests pass in; a real cluster's DNS answers ``<service>.<namespace>.svc`` the same way.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from deploy_fixtures import FakeKubeApi

from personseg.cli import main
from personseg.errors import UserError
from personseg.steps.object_store import Found, from_cluster, in_pod, launcher_endpoint
from personseg.steps.storage_env import use_endpoint

pytest_plugins = ("kfp_fixtures",)

MINIO_DEFAULT = """
minio:
  default:
    endpoint: minio-endpoint-5.com
    region: minio
    disableSSL: true
    credentials:
      fromEnv: false
      secretRef: {secretName: test-secret-5, accessKeyKey: a, secretKeyKey: s}
  overrides: []
"""


def service(name: str, namespace: str = "kubeflow") -> dict:
    return {"apiVersion": "v1", "kind": "Service", "metadata": {"name": name, "namespace": namespace},
            "spec": {"ports": [{"name": "http-s3-compat", "port": 9000, "targetPort": 8333}]}}


def launcher(namespace: str, providers: str, root: str = "minio://mlpipeline/v2/artifacts") -> dict:
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "kfp-launcher", "namespace": namespace},
            "data": {"defaultPipelineRoot": root, "providers": providers}}


@pytest.fixture
def kube():
    api = FakeKubeApi().start()
    yield api
    api.stop()


def test_the_launcher_providers_are_read_as_kfps_launcher_reads_them():
    assert launcher_endpoint({"providers": MINIO_DEFAULT}) == "http://minio-endpoint-5.com"
    assert launcher_endpoint({"providers": "minio:\n  default:\n    endpoint: minio-endpoint-3.com\n"}) == (
        "https://minio-endpoint-3.com")  # no disableSSL: TLS, as the launcher would use
    assert launcher_endpoint({"providers": "minio: {}"}) is None  # case1: the built-in default applies
    s3 = "s3:\n  default:\n    endpoint: s3.example.com\n    disableSSL: false\n"
    assert launcher_endpoint({"providers": MINIO_DEFAULT + s3, "defaultPipelineRoot": "s3://bucket/root"}) == (
        "https://s3.example.com")
    with pytest.raises(UserError, match="'providers' is not YAML"):
        launcher_endpoint({"providers": "minio: [unclosed"})


@pytest.mark.parametrize(("services", "expected"), [
    (("seaweedfs",), "http://seaweedfs.kubeflow:9000"),          # KFP 2.16.0, 2.17.0
    (("seaweedfs", "minio-service"), "http://seaweedfs.kubeflow:9000"),  # 2.15.0: the alias too
    (("minio-service",), "http://minio-service.kubeflow:9000"),  # up to 2.14.x: MinIO
])
def test_the_store_service_in_the_kfp_namespace_is_found(kube: FakeKubeApi, services, expected):
    for name in services:
        kube.put("services", service(name))
    assert from_cluster(kube.kube()) == Found(expected, f"Service kubeflow/{expected.split('//')[1].split('.')[0]}")


def test_the_launcher_configmap_of_the_profile_namespace_wins(kube: FakeKubeApi):
    kube.put("services", service("seaweedfs"))
    kube.put("configmaps", launcher("team-a", MINIO_DEFAULT))
    found = from_cluster(kube.kube(), run_namespace="team-a")
    assert found == Found("http://minio-endpoint-5.com", "ConfigMap team-a/kfp-launcher providers")
    assert from_cluster(kube.kube()).endpoint == "http://seaweedfs.kubeflow:9000"  # kubeflow has no ConfigMap
    assert from_cluster(kube.kube(), kfp_namespace="elsewhere") is None


def test_a_pod_finds_the_store_by_dns_in_its_namespace_then_kubeflow(tmp_path: Path):
    sa = tmp_path / "namespace"
    sa.write_text("team-a\n")
    assert in_pod(lambda host: True, tmp_path / "absent") is None  # not in a cluster: nothing to find
    assert in_pod(lambda host: True, sa).endpoint == "http://seaweedfs.team-a:9000"
    known = {"minio-service.kubeflow.svc"}
    assert in_pod(known.__contains__, sa) == Found("http://minio-service.kubeflow:9000",
                                                   "DNS minio-service.kubeflow.svc")
    with pytest.raises(UserError, match="no KFP object store Service .* resolves in namespace 'team-a' or 'kubeflow'"):
        in_pod(lambda host: False, sa)


def test_an_empty_s3_endpoint_in_a_pod_uses_the_found_store(monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    from personseg.steps import object_store

    for var in ("MINIO_ENDPOINT", "AWS_ENDPOINT_URL", "S3_ENDPOINT"):
        monkeypatch.delenv(var, raising=False)
    sa = tmp_path / "namespace"
    sa.write_text("kubeflow")
    monkeypatch.setattr(object_store, "SERVICE_ACCOUNT_NAMESPACE", sa)
    monkeypatch.setattr(object_store, "_resolves", {"seaweedfs.kubeflow.svc"}.__contains__)
    use_endpoint("")
    import os

    assert os.environ["MINIO_ENDPOINT"] == "http://seaweedfs.kubeflow:9000"
    use_endpoint("http://given:9000")
    assert os.environ["MINIO_ENDPOINT"] == "http://given:9000"


def kubeconfig(path: Path, server: str) -> Path:
    path.write_text(yaml.safe_dump({
        "apiVersion": "v1", "kind": "Config", "current-context": "c",
        "clusters": [{"name": "k", "cluster": {"server": server}}],
        "users": [{"name": "u", "user": {"token": "t"}}],
        "contexts": [{"name": "c", "context": {"cluster": "k", "user": "u"}}]}))
    return path


def test_submit_fills_in_the_store_the_cluster_has_and_a_flag_or_param_wins(
        stub, kube: FakeKubeApi, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys):
    host, state = stub
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    monkeypatch.setenv("KUBECONFIG", str(kubeconfig(tmp_path / "kubeconfig", kube.url)))
    kube.put("services", service("seaweedfs"))
    assert main(["pipeline", "submit", "--host", host]) == 0
    assert "s3_endpoint: http://seaweedfs.kubeflow:9000 (found: Service kubeflow/seaweedfs)" in capsys.readouterr().out
    assert main(["pipeline", "submit", "--host", host, "--s3-endpoint", "http://store.example:8333"]) == 0
    assert main(["pipeline", "submit", "--host", host, "--param", "s3_endpoint=http://mine:9000"]) == 0
    assert [r["runtime_config"]["parameters"].get("s3_endpoint") for r in state.runs] == [
        "http://seaweedfs.kubeflow:9000", "http://store.example:8333", "http://mine:9000"]


def test_without_cluster_access_the_run_leaves_it_to_the_steps(stub, tmp_path: Path,
                                                               monkeypatch: pytest.MonkeyPatch, capsys):
    host, state = stub
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "missing"))
    assert main(["pipeline", "submit", "--host", host]) == 0
    assert "s3_endpoint: left empty, the steps find the store in their pods" in capsys.readouterr().out
    assert "s3_endpoint" not in state.runs[0]["runtime_config"]["parameters"]


def test_upload_registers_the_found_store_as_the_default(stub, packages, kube: FakeKubeApi, tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch):
    host, state = stub
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    monkeypatch.setenv("KUBECONFIG", str(kubeconfig(tmp_path / "kubeconfig", kube.url)))
    kube.put("services", service("minio-service"))
    assert main(["pipeline", "upload", "--host", host, "--package", str(packages["a"])]) == 0
    (version,) = state.versions
    spec = version["pipeline_spec"]
    spec = spec.get("pipeline_spec", spec)
    default = spec["root"]["inputDefinitions"]["parameters"]["s3_endpoint"]["defaultValue"]
    assert default == "http://minio-service.kubeflow:9000"
    assert "minio-service" not in packages["a"].read_text(), "the compiled file names no store host"


def test_the_compiled_default_names_no_store_host(packages):
    text = packages["a"].read_text()
    doc = next(yaml.safe_load_all(text))
    assert doc["root"]["inputDefinitions"]["parameters"]["s3_endpoint"]["defaultValue"] == ""
    assert "minio-service" not in text and "seaweedfs" not in text
