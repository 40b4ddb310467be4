"""RBAC least privilege, asserted exactly: the deployer Role grants what deploy uses and nothing more.

Rules are compared as a normalised set of (apiGroup, resource, resourceName or "*", verb), so
reordering or splitting rules changes nothing while any added verb, resource or name, or a dropped
``resourceNames``, does. The same set is checked against what ``personseg deploy`` actually asks
for: every scenario (both targets, success and first-deploy rollback) runs against the STAND-IN
Kubernetes API (tests/deploy_fixtures.py) enforcing the Role, and every grant must be exercised.

What a real API server does that the stand-in does not: "*" wildcards, ClusterRoles and aggregation,
escalation checks, and authorizing requests deploy does not make. The stand-in does what the real
server does for the two subtle checks here: a service-proxy POST is ``create`` on ``services/proxy``
named ``<service>:<port>``, and an apply that creates an object is also checked as ``create`` with
the object's name (apiserver endpoints/handlers/patch.go). Only a real cluster proves the Role:
``kubectl auth can-i --as=system:serviceaccount:kubeflow:pipeline-runner`` per permission below.
"""

from __future__ import annotations

import copy
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from deploy_fixtures import FakeKubeApi, RecordingRegistry, role_rules, start_model_server, tiny_onnx_model

from personseg.deploy import DeployConfig, DeployFailed, run
from personseg.deploy.probe import card_entry

ROOT = Path(__file__).resolve().parents[1]
MANIFESTS = ROOT / "manifests"
RBAC_KINDS = ("Role", "ClusterRole", "RoleBinding", "ClusterRoleBinding")
OBJECT_VERBS = ("get", "create", "patch", "delete")
EXPECTED = {
    *{("apps", "deployments", "personseg", v) for v in OBJECT_VERBS},
    *{("", "services", "personseg", v) for v in OBJECT_VERBS},
    *{("", "serviceaccounts", n, v) for n in ("personseg", "personseg-kserve") for v in OBJECT_VERBS},
    *{("autoscaling", "horizontalpodautoscalers", "personseg", v) for v in OBJECT_VERBS},
    *{("serving.kserve.io", "inferenceservices", "personseg", v) for v in OBJECT_VERBS},
    ("", "services/proxy", "personseg:http", "create"),
    ("", "services/proxy", "personseg-predictor:80", "create"),
    ("", "pods", "*", "list"),
    ("", "events", "*", "list"),
}

Permission = tuple[str, str, str, str]


def find_kubectl() -> str | None:
    """As tests/test_deploy_manifests.py finds it: on PATH, else beside the venv's python."""
    beside = Path(sys.executable).parent / "kubectl"
    return shutil.which("kubectl") or (str(beside) if beside.is_file() else None)


def permissions(rules: list[dict[str, Any]]) -> set[Permission]:
    """Every (apiGroup, resource, name, verb) the rules allow; name "*" when not name-restricted."""
    out: set[Permission] = set()
    for rule in rules:
        assert set(rule) <= {"apiGroups", "resources", "resourceNames", "verbs"}, rule
        for group in rule["apiGroups"]:
            for resource in rule["resources"]:
                for name in rule.get("resourceNames") or ["*"]:
                    out |= {(group, resource, name, verb) for verb in rule["verbs"]}
    return out


def excess(granted: set[Permission], asked: set[tuple[str, str, str | None, str]]) -> set[Permission]:
    """Grants no request needed, and name-free grants whose requests all named their object."""
    out = set()
    for g, r, n, v in granted:
        served = [an for ag, ar, an, av in asked if (ag, ar, av) == (g, r, v) and n in ("*", an)]
        if not served or (n == "*" and None not in served):
            out.add((g, r, n, v))
    return out


def allowed(granted: set[Permission], group: str, resource: str, name: str | None, verb: str) -> bool:
    return (group, resource, "*", verb) in granted or (name is not None and (group, resource, name, verb) in granted)


@pytest.fixture(scope="module")
def asked(tmp_path_factory: pytest.TempPathFactory) -> set[tuple[str, str, str | None, str]]:
    """Every authorization deploy asked for, over both targets' success and first-deploy rollback."""
    base = tmp_path_factory.mktemp("rbac")
    model = tiny_onnx_model(base / "model")
    server = start_model_server(model, base / "server.log")
    probe = card_entry(model)
    seen: set[tuple[str, str, str | None, str]] = set()
    try:
        for target, failure in (("kubernetes", None), ("kubernetes", "ImagePullBackOff"),
                                ("kserve", None), ("kserve", "CrashLoopBackOff")):
            api = FakeKubeApi(failure=lambda obj, f=failure: f, role_rules=role_rules(), proxy_to=server.url).start()
            reg = RecordingRegistry({"personseg": 3}, {("personseg", "candidate"): 3}, smoke=probe)
            cfg = DeployConfig(model="models:/personseg@candidate", target=target, namespace="serving", timeout=30)
            try:
                if failure is None:
                    assert run(cfg, api=api.kube(), registry=lambda: reg, poll=0.05).status == "deployed"
                else:
                    with pytest.raises(DeployFailed, match="deleted new") as info:
                        run(cfg, api=api.kube(), registry=lambda: reg, poll=0.05)
                    assert "forbidden" not in str(info.value).lower()
            finally:
                api.stop()
            seen |= {(group, resource, name, verb) for verb, group, resource, name in api.authorized}
    finally:
        server.stop()
    return seen


def test_role_grants_exactly_the_expected_permissions():
    assert permissions(role_rules()) == EXPECTED


@pytest.mark.skipif(find_kubectl() is None, reason="kubectl not found: see manifests/README.md, 'Tools'")
def test_the_rendered_role_is_the_file():
    out = subprocess.run([find_kubectl(), "kustomize", str(MANIFESTS / "rbac")], capture_output=True, text=True,
                         timeout=60, check=True).stdout
    roles = [d for d in yaml.safe_load_all(out) if d and d["kind"] == "Role"]
    assert len(roles) == 1 and roles[0]["metadata"]["namespace"] == "personseg"
    assert permissions(roles[0]["rules"]) == EXPECTED


def test_deploy_needs_every_grant_and_nothing_more(asked: set[tuple[str, str, str | None, str]]):
    granted = permissions(role_rules())
    assert all(allowed(granted, g, r, n, v) for g, r, n, v in asked), "a request the stand-in let through"
    assert excess(granted, asked) == set()
    assert {("serving.kserve.io", "inferenceservices", "personseg", "create"),
            ("", "services/proxy", "personseg-predictor:80", "create"),
            ("", "serviceaccounts", "personseg-kserve", "delete")} <= asked, "the kserve variant was exercised"


def _with(rules: list[dict[str, Any]], extra: dict[str, Any]) -> list[dict[str, Any]]:
    return [*rules, extra]


MUTATIONS = {
    "pods/exec": lambda rules: _with(rules, {"apiGroups": [""], "resources": ["pods/exec"], "verbs": ["create"]}),
    "extra verb": lambda rules: [{**r, "verbs": [*r["verbs"], "list"]} if r["resources"] == ["deployments"] else r
                                 for r in rules],
    "names dropped": lambda rules: [{k: v for k, v in r.items() if k != "resourceNames"}
                                    if r["resources"] == ["services"] else r for r in rules],
    "another name": lambda rules: [{**r, "resourceNames": [*r["resourceNames"], "personseg-kserve"]}
                                   if r["resources"] == ["services"] else r for r in rules],
    "secrets": lambda rules: _with(rules, {"apiGroups": [""], "resources": ["secrets"], "verbs": ["get"]}),
}


@pytest.mark.parametrize("mutation", sorted(MUTATIONS))
def test_a_role_granting_more_fails_both_comparisons(mutation: str, asked: set[tuple[str, str, str | None, str]]):
    mutated = MUTATIONS[mutation](copy.deepcopy(role_rules()))
    assert permissions(mutated) != EXPECTED
    assert excess(permissions(mutated), asked), f"{mutation}: an unneeded grant goes unnoticed"


def test_the_deployer_role_is_the_only_rbac_object_besides_its_binding():
    found = []
    for path in sorted(MANIFESTS.rglob("*.yaml")):
        for doc in yaml.safe_load_all(path.read_text()):
            if isinstance(doc, dict) and doc.get("kind") in RBAC_KINDS:
                found.append((str(path.relative_to(MANIFESTS)), doc["kind"], doc["metadata"]["name"]))
    assert found == [("rbac/role.yaml", "Role", "personseg-deployer"),
                     ("rbac/rolebinding.yaml", "RoleBinding", "personseg-deployer")]
