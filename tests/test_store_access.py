"""The serving namespace reaches KFP's SeaweedFS only with manifests/store-access applied.

``admitted`` is a STAND-IN for a CNI that enforces NetworkPolicy (Calico, Cilium): the Kubernetes
rules for Ingress policies (networking.k8s.io/v1 NetworkPolicy reference: a pod selected by no
policy takes everything; a selected pod takes what any rule of any selecting policy allows; a rule
with no ``ports`` allows every port; selectors are label selectors). It knows no ipBlock, no named
ports and no Egress. ``KFP_SEAWEEDFS_POLICY`` restates the ingress rules of kubeflow/pipelines
``manifests/kustomize/third-party/seaweedfs/base/seaweedfs/seaweedfs-networkpolicy.yaml`` (2.15.0 to
2.17.0, the same in each). No real CNI runs here.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

POLICY = Path(__file__).resolve().parents[1] / "manifests" / "store-access" / "networkpolicy.yaml"


def _in(key: str, *values: str) -> dict[str, Any]:
    return {"matchExpressions": [{"key": key, "operator": "In", "values": list(values)}]}


KFP_SEAWEEDFS_POLICY = {
    "metadata": {"name": "seaweedfs", "namespace": "kubeflow"},
    "spec": {"podSelector": _in("app", "seaweedfs"), "policyTypes": ["Ingress"], "ingress": [
        {"from": [{"namespaceSelector": _in("app.kubernetes.io/part-of", "kubeflow-profile")}],
         "ports": [{"port": 8333}]},
        {"from": [{"namespaceSelector": _in("kubernetes.io/metadata.name", "istio-system")}]},
        {"from": [{"podSelector": {}}], "ports": [{"port": 8333}]},
    ]},
}
SEAWEEDFS = ("kubeflow", {"app": "seaweedfs"})


def selects(selector: dict[str, Any], labels: dict[str, str]) -> bool:
    """A label selector (matchLabels and matchExpressions with In/NotIn/Exists/DoesNotExist)."""
    if any(labels.get(k) != v for k, v in (selector.get("matchLabels") or {}).items()):
        return False
    for expr in selector.get("matchExpressions") or []:
        key, op, values = expr["key"], expr["operator"], expr.get("values") or []
        ok = {"In": labels.get(key) in values, "NotIn": labels.get(key) not in values,
              "Exists": key in labels, "DoesNotExist": key not in labels}[op]
        if not ok:
            return False
    return True


def admitted(policies: list[dict[str, Any]], namespaces: dict[str, dict[str, str]], source: tuple[str, dict],
             target: tuple[str, dict], port: int) -> bool:
    """Whether ``source`` (namespace, pod labels) may open ``port`` on ``target`` under ``policies``."""
    (src_ns, src_labels), (dst_ns, dst_labels) = source, target
    selecting = [p for p in policies if p["metadata"]["namespace"] == dst_ns
                 and selects(p["spec"]["podSelector"], dst_labels) and "Ingress" in p["spec"]["policyTypes"]]
    if not selecting:
        return True
    for policy in selecting:
        for rule in policy["spec"].get("ingress") or []:
            ports = rule.get("ports")
            if ports and not any(p.get("port") == port for p in ports):
                continue
            for peer in rule.get("from") or []:
                ns_sel, pod_sel = peer.get("namespaceSelector"), peer.get("podSelector")
                ns_ok = selects(ns_sel, namespaces[src_ns]) if ns_sel is not None else src_ns == dst_ns
                if ns_ok and (pod_sel is None or selects(pod_sel, src_labels)):
                    return True
    return False


def ours() -> dict[str, Any]:
    doc = yaml.safe_load(POLICY.read_text())
    doc["metadata"]["namespace"] = "kubeflow"  # what the kustomization sets
    return doc


NAMESPACES = {name: {"kubernetes.io/metadata.name": name} for name in ("kubeflow", "personseg", "default")}
NAMESPACES["team-a"] = {"kubernetes.io/metadata.name": "team-a", "app.kubernetes.io/part-of": "kubeflow-profile"}
SERVING_POD = ("personseg", {"app.kubernetes.io/name": "personseg"})


def test_kfps_policy_alone_shuts_the_serving_namespace_out():
    policies = [KFP_SEAWEEDFS_POLICY]
    assert admitted(policies, NAMESPACES, ("team-a", {}), SEAWEEDFS, 8333)  # a profile namespace: pipeline steps
    assert not admitted(policies, NAMESPACES, SERVING_POD, SEAWEEDFS, 8333)


def test_store_access_admits_the_serving_namespace_to_s3_only():
    policies = [KFP_SEAWEEDFS_POLICY, ours()]
    assert admitted(policies, NAMESPACES, SERVING_POD, SEAWEEDFS, 8333)
    assert not admitted(policies, NAMESPACES, SERVING_POD, SEAWEEDFS, 8888), "the filer port stays closed"
    assert not admitted(policies, NAMESPACES, ("default", {}), SEAWEEDFS, 8333), "other namespaces stay out"
    assert admitted(policies, NAMESPACES, ("team-a", {}), SEAWEEDFS, 8333), "KFP's own admissions stand"


def test_the_policy_selects_the_pods_kfps_policy_protects():
    assert ours()["spec"]["podSelector"]["matchLabels"] == {"app": "seaweedfs"}
    assert selects(KFP_SEAWEEDFS_POLICY["spec"]["podSelector"], SEAWEEDFS[1])
