"""``KubeApi.apply``: server-side apply through the kubernetes client's ``DynamicClient``, seen on the wire.

The requests go to ``FakeKubeApi`` (tests/deploy_fixtures.py), a STAND-IN for the Kubernetes API that
records each request. It shows what personseg sends; it does not show what a real API server does with
it: merging by field manager, conflict detection that ``force`` overrides, schema validation and
defaulting, admission, and 404s for kinds whose CRD is not installed. tests/test_deploy_real_cluster.py
applies for real when KUBECONFIG is set.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from deploy_fixtures import FakeKubeApi

from personseg import kube
from personseg.kube import Kind, KubeError

APPLY = "application/apply-patch+yaml"


@pytest.fixture
def api() -> Iterator[FakeKubeApi]:
    stand_in = FakeKubeApi().start()
    yield stand_in
    stand_in.stop()


def _isvc() -> dict:
    return {"apiVersion": "serving.kserve.io/v1beta1", "kind": "InferenceService",
            "metadata": {"name": "seg", "namespace": "serving", "labels": {"app": "seg"}},
            "spec": {"predictor": {"containers": [{"name": "kserve-container", "image": "img:1"}]}}}


def test_a_custom_resource_is_applied_as_an_apply_patch_with_manager_and_force(api: FakeKubeApi) -> None:
    applied = api.kube().apply(_isvc(), "personseg-deploy")
    assert applied["metadata"]["uid"] and applied["spec"] == _isvc()["spec"]  # the server's object comes back
    (patch,) = api.calls("PATCH")
    assert patch.path == "/apis/serving.kserve.io/v1beta1/namespaces/serving/inferenceservices/seg"
    assert patch.content_type == APPLY
    assert patch.query == {"fieldManager": "personseg-deploy", "force": "true"}
    assert patch.body == _isvc()


def test_core_group_objects_use_the_api_prefix(api: FakeKubeApi) -> None:
    svc = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "seg", "namespace": "serving"}, "spec": {}}
    api.kube().apply(svc, "someone")
    (patch,) = api.calls("PATCH")
    assert (patch.path, patch.content_type, patch.query["fieldManager"]) == (
        "/api/v1/namespaces/serving/services/seg", APPLY, "someone")


def test_a_cluster_scoped_kind_has_no_namespace_in_its_path(api: FakeKubeApi, monkeypatch) -> None:
    monkeypatch.setitem(kube.KINDS, "ClusterRole", Kind("rbac.authorization.k8s.io/v1", "ClusterRole", "clusterroles",
                                                        namespaced=False))
    role = {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
            "metadata": {"name": "seg-reader", "namespace": "ignored"}, "rules": []}
    with pytest.raises(KubeError, match=r"patch clusterroles/seg-reader \(cluster-scoped\) failed \(404\)"):
        api.kube().apply(role, "personseg-deploy")  # the stand-in serves no cluster-scoped paths: 404
    (patch,) = api.calls("PATCH")
    assert patch.path == "/apis/rbac.authorization.k8s.io/v1/clusterroles/seg-reader"
    assert patch.content_type == APPLY and patch.query == {"fieldManager": "personseg-deploy", "force": "true"}


def test_an_unreachable_api_server_is_one_clear_error() -> None:
    from kubernetes import client

    from personseg.netutil import free_port

    cfg = client.Configuration()
    cfg.host = f"http://127.0.0.1:{free_port()}"
    cfg.retries = 0
    with pytest.raises(KubeError, match="cannot reach the Kubernetes API at http://127.0.0.1:"):
        kube.KubeApi(client.ApiClient(cfg), request_timeout=5).apply(_isvc(), "personseg-deploy")


def test_the_stand_in_refuses_an_inference_service_kserves_schema_refuses(api: FakeKubeApi) -> None:
    bad = _isvc()
    bad["spec"]["predictor"]["minReplica"] = 1
    with pytest.raises(KubeError, match="minReplica"):
        api.kube().apply(bad, "personseg")
