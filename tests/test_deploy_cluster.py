"""Apply / wait / smoke / rollback against a STAND-IN for the Kubernetes API.

Everything here talks to ``FakeKubeApi`` from tests/deploy_fixtures.py: a small HTTP server on
127.0.0.1 that speaks just enough of the Kubernetes REST API and fakes the controllers. It is not
Kubernetes. What is real: the ``kubernetes`` Python client making the HTTP calls, the RBAC Role from
manifests/rbac (enforced by the stand-in), and the model server behind the service proxy (a real
``personseg serve`` process on the tiny ONNX model, or on one whose masks are all blank). The
registry is an in-memory stand-in too; its cards carry the probe mask publish computes for the tiny
model (``card_entry``), so the smoke test compares real served masks with a real expected one.

What a real API server does that the stand-in does not: admission (webhooks, quotas, Pod Security),
schema validation and defaulting of applied objects, field-manager conflict tracking, watch-driven
controllers that create ReplicaSets and Pods and move them through their states over time, endpoint
selection for the service proxy (the stand-in forwards to one fixed URL, so "the pods" answer with
whichever server the test chose), and RBAC evaluation beyond plain rule matching (wildcards,
aggregated ClusterRoles, escalation checks; tests/test_rbac.py pins the Role's exact rules).
tests/test_deploy_real_cluster.py runs against a real cluster when KUBECONFIG is set.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from deploy_fixtures import FakeKubeApi, RecordingRegistry, role_rules, start_model_server, tiny_onnx_model

from personseg.deploy.config import DeployConfig
from personseg.deploy.objects import render_kubernetes
from personseg.deploy.outcome import DeployFailed
from personseg.deploy.step import run
from personseg.errors import UserError
from personseg.kube import Forbidden, KubeApi, KubeError
from personseg.serving.smoke_probe import card_entry

MODEL = "models:/personseg@candidate"


@pytest.fixture(scope="module")
def tiny_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tiny_onnx_model(tmp_path_factory.mktemp("tiny") / "model")


@pytest.fixture(scope="module")
def model_server(tiny_dir: Path, tmp_path_factory: pytest.TempPathFactory):
    server = start_model_server(tiny_dir, tmp_path_factory.mktemp("server") / "server.log")
    yield server
    server.stop()


@pytest.fixture(scope="module")
def blank_server(tmp_path_factory: pytest.TempPathFactory):
    """Pods that answer every request with a valid, correctly sized, all-black mask."""
    base = tmp_path_factory.mktemp("blank")
    server = start_model_server(tiny_onnx_model(base / "model", bias=-10.0), base / "server.log")
    yield server
    server.stop()


@pytest.fixture(scope="module")
def probe(tiny_dir: Path) -> dict:
    """The card field publish writes for the tiny model: its offline mask of the probe image."""
    entry = card_entry(tiny_dir)
    assert entry["foreground_fraction"] > 0.5, "the expected mask must not be blank, or blank answers would pass"
    return entry


@pytest.fixture
def stand_in():
    started: list[FakeKubeApi] = []

    def make(**kwargs) -> FakeKubeApi:
        api = FakeKubeApi(**kwargs).start()
        started.append(api)
        return api

    yield make
    for api in started:
        api.stop()


@pytest.fixture
def registry(probe: dict):
    """Makes registries whose versions 2 (production) and 3 (candidate) were published with ``probe``."""
    def make(smoke: dict | None = probe) -> RecordingRegistry:
        return RecordingRegistry({"personseg": 3}, {("personseg", "candidate"): 3, ("personseg", "production"): 2},
                                 smoke=smoke)
    return make


def config(**kw) -> DeployConfig:
    return DeployConfig(**{"model": MODEL, "namespace": "serving", "timeout": 3.0, **kw})


def model_of(dep: dict) -> str:
    env = dep["spec"]["template"]["spec"]["containers"][0]["env"]
    return next(e["value"] for e in env if e["name"] == "PERSONSEG_MODEL_URI")


def seed_previous(api: FakeKubeApi, version: int) -> None:
    """Objects as a good earlier deploy of ``version`` left them."""
    cfg = config()
    for obj in render_kubernetes(cfg, f"models:/personseg:{version}"):
        plural = {"ServiceAccount": "serviceaccounts", "Deployment": "deployments", "Service": "services",
                  "HorizontalPodAutoscaler": "horizontalpodautoscalers"}[obj["kind"]]
        api.put(plural, obj)


def test_deploy_applies_waits_smoke_tests_and_promotes(stand_in, model_server, registry):
    api = stand_in(proxy_to=model_server.url, role_rules=role_rules())
    reg = registry()
    result = run(config(), api=api.kube(), registry=lambda: reg, poll=0.05)
    assert result.status == "deployed" and result.pinned_model == "models:/personseg:3"
    assert result.smoke["width"] == 160 and result.smoke["height"] == 240
    assert result.smoke["iou"] == 1.0, "the server's mask is the one publish computed offline"
    patches = api.calls("PATCH")
    assert [p.body["kind"] for p in patches] == ["ServiceAccount", "Deployment", "Service", "HorizontalPodAutoscaler"]
    for p in patches:
        assert p.content_type == "application/apply-patch+yaml"
        assert p.query == {"fieldManager": "personseg-deploy", "force": "true"}
    assert model_of(api.get("deployments", "serving", "personseg")) == "models:/personseg:3"
    proxied = [r for r in api.calls("POST") if "/proxy/" in r.path]
    assert proxied[0].path == "/api/v1/namespaces/serving/services/personseg:http/proxy/v1/segment"
    assert proxied[0].body.startswith(b"\x89PNG")
    assert ("promote", "personseg", 3, "production") in reg.calls
    assert reg.calls[-1][:4] == ("mark", "personseg", 3, "deployed")


def test_applying_the_same_version_twice_changes_nothing(stand_in, model_server, registry):
    api = stand_in(proxy_to=model_server.url)
    for _ in range(2):
        run(config(), api=api.kube(), registry=registry, poll=0.05)
    dep = api.get("deployments", "serving", "personseg")
    assert dep["metadata"]["generation"] == 1 and dep["metadata"]["resourceVersion"] == "1"
    run(config(model="models:/personseg:2"), api=api.kube(), registry=registry, poll=0.05)
    assert api.get("deployments", "serving", "personseg")["metadata"]["generation"] == 2


def test_rollout_that_never_becomes_available_times_out_with_events_and_rolls_back(stand_in, registry):
    api = stand_in(failure=lambda obj: "unready" if "personseg:3" in str(obj) else None)
    seed_previous(api, 2)
    reg = registry()
    start = time.monotonic()
    with pytest.raises(DeployFailed) as info:
        run(config(timeout=1.5), api=api.kube(), registry=lambda: reg, poll=0.1)
    message = str(info.value)
    assert time.monotonic() - start < 10
    assert "did not finish in 1.5s: 1/1 replicas updated, 1 available, 1 old still running" in message
    assert "Readiness probe failed" in message and "running, not ready" in message
    assert "restored deployment/personseg" in message and "previous version available again" in message
    assert model_of(api.get("deployments", "serving", "personseg")) == "models:/personseg:2"
    assert reg.calls[-1][:4] == ("mark", "personseg", 3, "rolled-back")
    assert "did not finish" in reg.calls[-1][4]
    assert reg.stages[("personseg", "production")] == 2 and not [c for c in reg.calls if c[0] == "promote"]


def test_image_pull_failure_fails_fast_and_first_deploy_is_removed(stand_in, registry):
    api = stand_in(failure=lambda obj: "ImagePullBackOff")
    with pytest.raises(DeployFailed) as info:
        run(config(timeout=60, image="registry.invalid/personseg:nope"), api=api.kube(),
            registry=registry, poll=0.05)
    message = str(info.value)
    assert "image pull failed" in message and "registry.invalid/personseg:nope" in message
    assert "deleted new deployment/personseg" in message
    assert not api.objects, "a failed first deploy leaves nothing behind"
    assert {r.path.rsplit("/", 2)[-2] for r in api.calls("DELETE")} == {
        "serviceaccounts", "deployments", "services", "horizontalpodautoscalers", "leases"}  # leases: released


def test_smoke_failure_rolls_back_to_the_previous_spec(stand_in, registry):
    api = stand_in(proxy_to=None)  # the service proxy answers 503: no endpoints
    seed_previous(api, 2)
    reg = registry()
    with pytest.raises(DeployFailed) as info:
        run(config(), api=api.kube(), registry=lambda: reg, poll=0.05)
    assert "smoke test" in str(info.value) and "no endpoints available" in str(info.value)
    assert model_of(api.get("deployments", "serving", "personseg")) == "models:/personseg:2"
    assert reg.calls[-1][3] == "rolled-back"


def test_blank_masks_fail_the_smoke_test_and_roll_back_to_the_previous_version(stand_in, blank_server, registry):
    # The stand-in proxies "the Service" to a real server whose masks are all black: a valid PNG of the
    # right size, which the old size-only smoke test accepted.
    api = stand_in(proxy_to=blank_server.url, role_rules=role_rules())
    seed_previous(api, 2)
    reg = registry()
    with pytest.raises(DeployFailed) as info:
        run(config(), api=api.kube(), registry=lambda: reg, poll=0.05)
    message = str(info.value)
    assert "mask differs from the expected one: IoU 0.000 < 0.9" in message and info.value.rolled_back
    assert "restored deployment/personseg" in message and "previous version available again" in message
    assert model_of(api.get("deployments", "serving", "personseg")) == "models:/personseg:2"
    assert reg.calls[-1][:4] == ("mark", "personseg", 3, "rolled-back") and "IoU 0.000" in reg.calls[-1][4]
    assert reg.stages[("personseg", "production")] == 2 and not [c for c in reg.calls if c[0] == "promote"]


def test_kserve_blank_masks_roll_back_and_a_first_deploy_leaves_nothing(stand_in, blank_server, registry):
    api = stand_in(proxy_to=blank_server.url, role_rules=role_rules())
    reg = registry()
    with pytest.raises(DeployFailed, match="IoU 0.000 < 0.9") as info:
        run(config(target="kserve"), api=api.kube(), registry=lambda: reg, poll=0.05)
    assert "deleted new inferenceservice/personseg" in str(info.value)
    assert api.get("inferenceservices", "serving", "personseg") is None
    assert reg.calls[-1][:4] == ("mark", "personseg", 3, "rolled-back")


def test_a_version_whose_card_has_no_expected_mask_is_refused_before_any_change(stand_in, model_server, registry):
    api = stand_in(proxy_to=model_server.url, role_rules=role_rules())
    seed_previous(api, 2)
    reg = registry(smoke=None)  # a card published before cards recorded the probe's mask
    with pytest.raises(DeployFailed) as info:
        run(config(), api=api.kube(), registry=lambda: reg, poll=0.05)
    assert "not started, nothing changed: model card of models:/personseg:3 has no expected smoke-test mask" in (
        str(info.value)) and not info.value.rolled_back
    assert not api.calls("PATCH") and not api.calls("DELETE")
    assert reg.calls == [("mark", "personseg", 3, "deploy-failed", reg.calls[0][4])]
    assert "personseg models pull models:/personseg:3 DIR" in reg.calls[0][4]


def test_rbac_role_is_enough_and_forbidden_names_verb_and_resource(stand_in, model_server, registry):
    rules = role_rules()
    for rule in rules:
        if "deployments" in rule["resources"]:
            rule["verbs"] = [v for v in rule["verbs"] if v != "patch"]
    api = stand_in(proxy_to=model_server.url, role_rules=rules)
    with pytest.raises(DeployFailed) as info:
        run(config(), api=api.kube(), registry=registry, poll=0.05)
    assert "cannot patch deployments (API group 'apps') in namespace 'serving'" in str(info.value)
    api = stand_in(role_rules=role_rules())
    with pytest.raises(Forbidden) as denied:
        run(config(name="someone-else"), api=api.kube(), registry=registry)
    assert "cannot get serviceaccounts (API group 'core')" in str(denied.value)
    assert not api.calls("PATCH"), "nothing is applied when the first read is forbidden"


def test_kserve_target_applies_an_inference_service_and_smoke_tests_the_predictor(stand_in, model_server,
                                                                                  registry):
    api = stand_in(proxy_to=model_server.url, role_rules=role_rules())
    reg = registry()
    result = run(config(target="kserve"), api=api.kube(), registry=lambda: reg, poll=0.05)
    isvc = api.get("inferenceservices", "serving", "personseg")
    env = {e["name"]: e["value"] for e in isvc["spec"]["predictor"]["containers"][0]["env"] if "value" in e}
    assert env["STORAGE_URI"] == "s3://models/personseg/3/"
    assert result.endpoint == "http://personseg-predictor.serving.svc:80"
    assert any("/services/personseg-predictor:80/proxy/" in r.path for r in api.calls("POST"))
    assert ("promote", "personseg", 3, "production") in reg.calls


def test_kserve_not_ready_rolls_back(stand_in, registry):
    api = stand_in(failure=lambda obj: "CrashLoopBackOff")
    with pytest.raises(DeployFailed) as info:
        run(config(target="kserve", timeout=30), api=api.kube(), registry=registry, poll=0.05)
    assert "container keeps crashing" in str(info.value)
    assert api.get("inferenceservices", "serving", "personseg") is None


def test_kserve_second_deploy_waits_for_the_predictor_deployment_not_the_old_ready(stand_in, model_server,
                                                                                     registry):
    # The stand-in copies KServe's PropagateRawStatus (kserve pkg/apis/serving/v1beta1/
    # inference_service_status.go, v0.13.0-v0.20.0): the InferenceService's observedGeneration is the
    # predictor Deployment's and Ready stays True while the old pods keep it Available. Judged on those,
    # a second deploy whose new pods never get ready looked done and was smoke-tested on the old pods.
    api = stand_in(proxy_to=model_server.url, role_rules=role_rules(),
                   failure=lambda obj: "unready" if "s3://models/personseg/3/" in str(obj) else None)
    reg = registry()
    assert run(config(model="models:/personseg:2", target="kserve"), api=api.kube(), registry=lambda: reg,
               poll=0.05).status == "deployed"
    with pytest.raises(DeployFailed) as info:
        run(config(target="kserve"), api=api.kube(), registry=lambda: reg, poll=0.05)
    message = str(info.value)
    assert "deployment/personseg-predictor: 1/1 replicas updated, 1 available, 1 old still running" in message
    assert "restored inferenceservice/personseg" in message and "previous version available again" in message
    assert ("promote", "personseg", 3, "production") not in reg.calls


def test_kserve_deploy_that_changes_no_pod_passes_though_generations_differ(stand_in, model_server, registry):
    # minReplicas goes to the HPA: the InferenceService's generation moves, its predictor Deployment's
    # does not, so the InferenceService's observedGeneration (copied from the Deployment) never catches up.
    api = stand_in(proxy_to=model_server.url, role_rules=role_rules())
    reg = registry()
    run(config(target="kserve"), api=api.kube(), registry=lambda: reg, poll=0.05)
    result = run(config(target="kserve", min_replicas=2, max_replicas=4), api=api.kube(), registry=lambda: reg,
                 poll=0.05)
    assert result.status == "deployed"
    assert api.get("inferenceservices", "serving", "personseg")["metadata"]["generation"] == 2
    assert api.get("deployments", "serving", "personseg-predictor")["metadata"]["generation"] == 1


def test_serving_pods_that_cannot_reach_s3_fail_the_deploy_in_one_line(stand_in, registry, tmp_path: Path):
    # The crash message is the real server's: `personseg serve` against an S3 endpoint nobody listens on,
    # as a pod shut out by a NetworkPolicy sees it. The stand-in hands it back as the kubelet would.
    import os
    import subprocess
    import sys

    from personseg.netutil import free_port

    endpoint = f"127.0.0.1:{free_port()}"
    env = {**os.environ, "MINIO_ENDPOINT": endpoint, "MINIO_ACCESS_KEY": "k", "MINIO_SECRET_KEY": "s",
           "MINIO_SECURE": "false", "PERSONSEG_S3_RETRIES": "0", "PERSONSEG_CACHE": str(tmp_path / "cache")}
    served = subprocess.run([sys.executable, "-m", "personseg", "serve", "--model", "models:/personseg@production",
                             "--host", "127.0.0.1", "--port", str(free_port())], capture_output=True, text=True,
                            env=env, timeout=120)
    assert served.returncode == 2, served.stderr[-2000:]
    api = stand_in(failure=lambda obj: "CrashLoopBackOff", last_words=served.stdout + served.stderr)
    seed_previous(api, 2)
    with pytest.raises(DeployFailed) as info:
        run(config(timeout=30), api=api.kube(), registry=registry, poll=0.05)
    first = str(info.value).splitlines()[0]
    assert first == (f"deploy of models:/personseg:3 to kubernetes namespace 'serving' failed: serving pods in "
                     f"namespace 'serving' cannot reach S3 at http://{endpoint}: let the namespace reach the object "
                     "store (docs/kubeflow.md, 'The object store')")
    assert model_of(api.get("deployments", "serving", "personseg")) == "models:/personseg:2"


def test_no_cluster_credentials_is_a_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, registry):
    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "missing-kubeconfig"))
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    with pytest.raises(UserError, match="no Kubernetes cluster credentials"):
        run(config(model="s3://models/personseg/3/"), registry=registry)


def test_unreachable_api_server_is_a_clear_error():
    from kubernetes import client

    from personseg.netutil import free_port

    cfg = client.Configuration()
    cfg.host = f"http://127.0.0.1:{free_port()}"
    cfg.retries = 0
    with pytest.raises(KubeError, match="cannot reach the Kubernetes API at http://127.0.0.1"):
        KubeApi(client.ApiClient(cfg), request_timeout=2).get("Deployment", "serving", "personseg")
