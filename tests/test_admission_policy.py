"""The admission side of least privilege: Pod Security labels and the ValidatingAdmissionPolicies.

The policies' CEL expressions are evaluated with cel-python (celpy), not with the API server's CEL
(cel-go): the two implement the same language spec, but a real cluster is what proves the policy
(``kubectl apply -k manifests/admission`` on Kubernetes >= 1.30, then try the objects below). The objects
are what ``personseg deploy`` renders; the schemas are Kubernetes' own (kubernetes-validate).
"""

from __future__ import annotations

import copy
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from personseg.deploy.config import DeployConfig
from personseg.deploy.kserve import render_kserve
from personseg.deploy.objects import render_kubernetes

ROOT = Path(__file__).resolve().parents[1]
MANIFESTS = ROOT / "manifests"
VAP_VERSIONS = ("1.31.0", "1.34.0")  # admissionregistration.k8s.io/v1 policies are GA from 1.30


@pytest.fixture(scope="module")
def kustomize(tmp_path_factory: pytest.TempPathFactory):
    """``kustomize(folder)``: the built objects, from a copy of manifests/ with .env made from .env.example."""
    kubectl = shutil.which("kubectl") or str(Path(sys.executable).parent / "kubectl")
    if not Path(kubectl).is_file():
        pytest.skip("kubectl not found")
    work = tmp_path_factory.mktemp("manifests") / "manifests"
    shutil.copytree(MANIFESTS, work, ignore=shutil.ignore_patterns(".env"))
    for example in work.rglob(".env.example"):
        shutil.copy(example, example.with_name(".env"))

    def build(folder: str) -> list[dict[str, Any]]:
        out = subprocess.run([kubectl, "kustomize", str(work / folder)], capture_output=True, text=True,
                             timeout=60, check=True).stdout
        return [d for d in yaml.safe_load_all(out) if d]

    return build


@pytest.fixture(scope="module")
def admission(kustomize) -> list[dict[str, Any]]:
    return kustomize("admission")


def test_the_policies_are_valid_kubernetes_objects(admission: list[dict[str, Any]]) -> None:
    kinds = sorted(d["kind"] for d in admission)
    assert kinds == ["ConfigMap", "ValidatingAdmissionPolicy", "ValidatingAdmissionPolicy",
                     "ValidatingAdmissionPolicyBinding", "ValidatingAdmissionPolicyBinding"]
    for doc in admission:
        for version in VAP_VERSIONS:
            kubernetes_validate.validate(doc, version, strict=True)


def _verdicts(admission: list[dict[str, Any]], obj: dict[str, Any]) -> list[bool]:
    """Each validation of the policy that matches ``obj``'s resource, evaluated on it with the pins."""
    import celpy

    params = next(d for d in admission if d["kind"] == "ConfigMap")
    resource = {"Deployment": "deployments", "InferenceService": "inferenceservices"}[obj["kind"]]
    (policy,) = [d for d in admission if d["kind"] == "ValidatingAdmissionPolicy"
                 and resource in d["spec"]["matchConstraints"]["resourceRules"][0]["resources"]]
    env = celpy.Environment()
    context = {"object": celpy.json_to_cel(obj), "params": celpy.json_to_cel(params)}
    (condition,) = policy["spec"]["matchConditions"]
    assert env.program(env.compile(condition["expression"])).evaluate(context)
    return [bool(env.program(env.compile(v["expression"])).evaluate(context)) for v in policy["spec"]["validations"]]


def _containers(obj: dict[str, Any]) -> list[dict[str, Any]]:
    if obj["kind"] == "Deployment":
        return obj["spec"]["template"]["spec"]["containers"]
    return obj["spec"]["predictor"]["containers"]


def _with_service_account(obj: dict[str, Any], name: str) -> dict[str, Any]:
    out = copy.deepcopy(obj)
    spec = out["spec"]["template"]["spec"] if out["kind"] == "Deployment" else out["spec"]["predictor"]
    spec["serviceAccountName"] = name
    return out


@pytest.mark.parametrize("kind", ["Deployment", "InferenceService"])
def test_the_policies_admit_what_deploy_renders_and_refuse_other_images_or_accounts(
        admission: list[dict[str, Any]], kind: str) -> None:
    cfg = DeployConfig(model="models:/personseg:3", namespace="personseg", image="ghcr.io/personseg/serving:0.1.0")
    rendered = render_kubernetes(cfg, cfg.model) if kind == "Deployment" else render_kserve(cfg, "s3://models/p/3/")
    (obj,) = [o for o in rendered if o["kind"] == kind]
    assert _verdicts(admission, obj) == [True, True]

    foreign = copy.deepcopy(obj)
    _containers(foreign)[0]["image"] = "docker.io/attacker/miner:latest"
    assert _verdicts(admission, foreign) == [False, True]
    assert _verdicts(admission, _with_service_account(obj, "pipeline-runner")) == [True, False]
    if kind == "Deployment":
        sneaky = copy.deepcopy(obj)
        sneaky["spec"]["template"]["spec"]["initContainers"] = [{"name": "x", "image": "docker.io/attacker/x"}]
        assert _verdicts(admission, sneaky) == [False, True]


def _restricted_violations(pod_spec: dict[str, Any]) -> list[str]:
    """The checks of Pod Security Standards' `restricted` profile (kubernetes.io/docs/concepts/security/
    pod-security-standards) that a pod template can fail on its own."""
    found = []
    pod_ctx = pod_spec.get("securityContext") or {}
    for flag in ("hostNetwork", "hostPID", "hostIPC"):
        if pod_spec.get(flag):
            found.append(flag)
    if any("hostPath" in v for v in pod_spec.get("volumes") or []):
        found.append("hostPath volume")
    for c in [*(pod_spec.get("initContainers") or []), *pod_spec["containers"]]:
        ctx = c.get("securityContext") or {}
        if ctx.get("privileged"):
            found.append(f"{c['name']}: privileged")
        if ctx.get("allowPrivilegeEscalation") is not False:
            found.append(f"{c['name']}: allowPrivilegeEscalation not false")
        if "ALL" not in ((ctx.get("capabilities") or {}).get("drop") or []):
            found.append(f"{c['name']}: capabilities not dropped (ALL)")
        if not (ctx.get("runAsNonRoot", pod_ctx.get("runAsNonRoot"))):
            found.append(f"{c['name']}: runAsNonRoot not true")
        seccomp = (ctx.get("seccompProfile") or pod_ctx.get("seccompProfile") or {}).get("type")
        if seccomp not in ("RuntimeDefault", "Localhost"):
            found.append(f"{c['name']}: seccompProfile {seccomp}")
    return found


def test_namespaces_enforce_the_restricted_pod_security_profile_and_their_pods_meet_it(kustomize) -> None:
    docs = kustomize("overlays/dev")
    namespaces = [d for d in docs if d["kind"] == "Namespace"]
    assert namespaces, "the dev overlay creates its namespace"
    for ns in namespaces:
        labels = ns["metadata"]["labels"]
        assert labels["pod-security.kubernetes.io/enforce"] == "restricted", ns["metadata"]["name"]
        assert labels["pod-security.kubernetes.io/warn"] == "restricted"
    for overlay in ("base", "overlays/dev", "overlays/prod"):
        for d in kustomize(overlay):
            if d["kind"] == "Deployment":
                assert _restricted_violations(d["spec"]["template"]["spec"]) == [], (overlay, d["metadata"]["name"])
    cfg = DeployConfig(model="models:/personseg:3")
    for obj in [*render_kubernetes(cfg, cfg.model), *render_kserve(cfg, "s3://models/p/3/")]:
        spec = obj["spec"]["template"]["spec"] if obj["kind"] == "Deployment" else (
            obj["spec"]["predictor"] if obj["kind"] == "InferenceService" else None)
        if spec is not None:
            assert _restricted_violations(spec) == [], obj["kind"]
