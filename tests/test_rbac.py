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

The TrainJob Role (manifests/rbac/trainjob) is checked the same way: its exact rules, and a real
two-node training through the stand-in API and Trainer controller (tests/trainjob_fixtures.py)
enforcing it must use every grant. A POST create carries no object name to the authorizer, which
is why ``create`` on trainjobs cannot be name-restricted.
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
from storage_fixtures import MODEL_BUCKET, point_env_at, s3_server  # noqa: F401 - s3_server is a fixture
from trainjob_fixtures import FakeTrainerApi, TrainerController

from personseg.deploy.config import DeployConfig
from personseg.deploy.outcome import DeployFailed
from personseg.deploy.step import run
from personseg.serving.smoke_probe import card_entry
from personseg.storage.access import S3Access

ROOT = Path(__file__).resolve().parents[1]
MANIFESTS = ROOT / "manifests"
RBAC_KINDS = ("Role", "ClusterRole", "RoleBinding", "ClusterRoleBinding")
OBJECT_VERBS = ("get", "create", "patch", "delete")
EXPECTED = {
    *{("apps", "deployments", "personseg", v) for v in OBJECT_VERBS},
    ("apps", "deployments", "personseg-predictor", "get"),
    *{("", "services", "personseg", v) for v in OBJECT_VERBS},
    *{("", "serviceaccounts", n, v) for n in ("personseg", "personseg-kserve") for v in OBJECT_VERBS},
    *{("autoscaling", "horizontalpodautoscalers", "personseg", v) for v in OBJECT_VERBS},
    *{("serving.kserve.io", "inferenceservices", "personseg", v) for v in OBJECT_VERBS},
    ("", "services/proxy", "personseg:http", "create"),
    ("", "services/proxy", "personseg-predictor:80", "create"),
    ("", "pods", "*", "list"),
    ("", "events", "*", "list"),
    ("coordination.k8s.io", "leases", "*", "create"),
    *{("coordination.k8s.io", "leases", "personseg-deploy-personseg", v) for v in ("get", "update", "delete")},
}

# TrainJob names are made per run (personseg-train-<random>) and JobSet names the pods after them.
PER_RUN_NAMES = frozenset({("trainer.kubeflow.org", "trainjobs", "get"),
                           ("trainer.kubeflow.org", "trainjobs", "delete"), ("", "pods/log", "get")})
TRAINJOB_EXPECTED = {
    *{("trainer.kubeflow.org", "trainjobs", "*", v) for v in ("create", "get", "delete")},
    ("", "pods", "*", "list"),
    ("", "pods/log", "*", "get"),
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


def excess(granted: set[Permission], asked: set[tuple[str, str, str | None, str]],
           unnameable: frozenset[tuple[str, str, str]] = frozenset()) -> set[Permission]:
    """Grants no request needed, and name-free grants whose requests all named their object.

    ``unnameable``: (group, resource, verb) whose object names are made per run, so no Role can list them.
    """
    out = set()
    for g, r, n, v in granted:
        served = [an for ag, ar, an, av in asked if (ag, ar, av) == (g, r, v) and n in ("*", an)]
        if not served or (n == "*" and None not in served and (g, r, v) not in unnameable):
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
            if target == "kserve" and failure is None:  # a deploy that died left its Lease: taken over
                api.put("leases", {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
                                   "metadata": {"name": "personseg-deploy-personseg", "namespace": "serving"},
                                   "spec": {"holderIdentity": "dead", "leaseDurationSeconds": 1,
                                            "renewTime": "2020-01-01T00:00:00.000000Z"}})
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


def test_the_two_roles_are_the_only_rbac_objects_besides_their_bindings():
    found = []
    for path in sorted(MANIFESTS.rglob("*.yaml")):
        for doc in yaml.safe_load_all(path.read_text()):
            if isinstance(doc, dict) and doc.get("kind") in RBAC_KINDS:
                found.append((str(path.relative_to(MANIFESTS)), doc["kind"], doc["metadata"]["name"]))
    assert found == [("rbac/role.yaml", "Role", "personseg-deployer"),
                     ("rbac/rolebinding.yaml", "RoleBinding", "personseg-deployer"),
                     ("rbac/trainjob/role.yaml", "Role", "personseg-trainjob"),
                     ("rbac/trainjob/rolebinding.yaml", "RoleBinding", "personseg-trainjob")]


# -- the TrainJob Role -------------------------------------------------------------------------------
def trainjob_rules() -> list[dict[str, Any]]:
    return yaml.safe_load((MANIFESTS / "rbac" / "trainjob" / "role.yaml").read_text())["rules"]


def _train_through_stand_in(rules: list[dict[str, Any]], s3, data: Path, work: Path, job: str):
    """Train ``data`` on 2 nodes through the stand-ins enforcing ``rules``; (api, raised exception or None)."""
    from personseg.storage import conditional_put
    from personseg.training.step import TrainConfig
    from personseg.training.trainjob import NodePool
    from personseg.training.trainjob_step import ClusterConfig, train_on_cluster

    api = FakeTrainerApi(role_rules=rules).start()
    controller = TrainerController(api, work / "nodes")
    api.put_secret("kubeflow", "mlpipeline-minio-artifact", {"accesskey": s3.access_key, "secretkey": s3.secret_key})
    raised = None
    try:
        with pytest.MonkeyPatch.context() as mp:
            point_env_at(mp, s3)
            mp.setenv("PERSONSEG_MODEL_BUCKET", MODEL_BUCKET)
            mp.setenv("PERSONSEG_CACHE", str(work / "cache"))
            mp.setattr(conditional_put, "_answers", {})
            pool = NodePool(nodes=2, namespace="kubeflow", image="personseg-pipeline:test",
                            s3=S3Access(s3.endpoint, "mlpipeline-minio-artifact"))
            cluster = ClusterConfig(pool, poll=0.2)
            train_on_cluster(TrainConfig(data=str(data), width=8, size=64, epochs=1, threads=1), work / "model",
                             cluster, api_client=api.client(), job=job, emit=lambda line: None)
    except Exception as exc:  # noqa: BLE001 - the caller asserts on it
        raised = exc
    finally:
        controller.stop()
        api.stop()
    return api, raised


@pytest.fixture(scope="module")
def trainjob_asked(s3_server, tiny_dataset: Path, tmp_path_factory: pytest.TempPathFactory):  # noqa: F811
    """Every authorization a successful two-node TrainJob training asked for."""
    api, raised = _train_through_stand_in(trainjob_rules(), s3_server, tiny_dataset,
                                          tmp_path_factory.mktemp("trainjob-rbac"), "personseg-train-rbac")
    assert raised is None, raised
    return {(group, resource, name, verb) for verb, group, resource, name in api.authorized}


def test_trainjob_role_grants_exactly_the_expected_permissions():
    assert permissions(trainjob_rules()) == TRAINJOB_EXPECTED


def test_trainjob_step_needs_every_grant_and_nothing_more(trainjob_asked):
    granted = permissions(trainjob_rules())
    assert all(allowed(granted, g, r, n, v) for g, r, n, v in trainjob_asked)
    assert excess(granted, trainjob_asked, PER_RUN_NAMES) == set()
    assert ("trainer.kubeflow.org", "trainjobs", None, "create") in trainjob_asked, "create names no object"


TRAINJOB_MUTATIONS = {
    "watch": lambda rules: [{**r, "verbs": [*r["verbs"], "watch"]} if r["resources"] == ["trainjobs"] else r
                            for r in rules],
    "list trainjobs": lambda rules: [{**r, "verbs": [*r["verbs"], "list"]} if r["resources"] == ["trainjobs"]
                                     else r for r in rules],
    "get pods": lambda rules: [{**r, "verbs": ["list", "get"]} if r["resources"] == ["pods"] else r for r in rules],
    "secrets": lambda rules: _with(rules, {"apiGroups": [""], "resources": ["secrets"], "verbs": ["get"]}),
    "jobsets": lambda rules: _with(rules, {"apiGroups": ["jobset.x-k8s.io"], "resources": ["jobsets"],
                                           "verbs": ["get"]}),
}


@pytest.mark.parametrize("mutation", sorted(TRAINJOB_MUTATIONS))
def test_a_trainjob_role_granting_more_fails_both_comparisons(mutation: str, trainjob_asked):
    mutated = TRAINJOB_MUTATIONS[mutation](copy.deepcopy(trainjob_rules()))
    assert permissions(mutated) != TRAINJOB_EXPECTED
    assert excess(permissions(mutated), trainjob_asked, PER_RUN_NAMES), f"{mutation}: an unneeded grant goes unnoticed"


def test_without_the_log_grant_the_step_fails_naming_it(s3_server, tiny_dataset: Path, tmp_path: Path):  # noqa: F811
    rules = [r for r in trainjob_rules() if r["resources"] != ["pods/log"]]
    api, raised = _train_through_stand_in(rules, s3_server, tiny_dataset, tmp_path, "personseg-train-nolog")
    assert raised is not None and "forbidden by RBAC: cannot get pods/personseg-train-nolog-node-0-0-" in str(raised)
    assert api.get("trainjobs", "kubeflow", "personseg-train-nolog") is None, "the step deletes what it started"
