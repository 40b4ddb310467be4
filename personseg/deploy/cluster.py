"""Deploy to a cluster: apply, wait, smoke-test through the Service, and roll back on any failure.

The previous state of every object is read before anything changes. If the rollout or the smoke
test fails, objects that existed are re-applied exactly as they were and objects this deploy
created are deleted, then the registry records the outcome. Applying the same version twice changes
nothing (server-side apply with one field manager), so retries of a pipeline step are safe.
"""

from __future__ import annotations

import copy
import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from personseg.deploy.config import DeployConfig
from personseg.deploy.kserve import predictor_service, render_kserve
from personseg.deploy.objects import PORT_NAME, SERVICE_PORT, TEMPLATE_HASH, render_kubernetes, selector
from personseg.deploy.outcome import DeployFailed, DeployResult
from personseg.deploy.pinned_model import DeployRegistry, PinnedModel
from personseg.deploy.rollout import RolloutFailed, wait_for_rollout
from personseg.deploy.smoke import SmokeFailed, run_smoke
from personseg.errors import UserError
from personseg.kube import KubeApi, KubeError

SERVER_FIELDS = ("uid", "resourceVersion", "generation", "creationTimestamp", "managedFields", "selfLink")
SERVER_ANNOTATIONS = ("deployment.kubernetes.io/revision", "kubectl.kubernetes.io/last-applied-configuration")


@dataclass(frozen=True)
class Plan:
    """The objects to apply and how to judge them for one target."""

    objects: list[dict[str, Any]]
    workload_kind: str
    service: str
    service_port: str
    pod_selector: str


def plan_for(cfg: DeployConfig, model_uri: str) -> Plan:
    """The objects and rollout checks for ``cfg.target`` (kubernetes or kserve)."""
    if cfg.target == "kserve":
        sel = f"serving.kserve.io/inferenceservice={cfg.name}"
        return Plan(render_kserve(cfg, model_uri), "InferenceService", predictor_service(cfg), "80", sel)
    sel = ",".join(f"{k}={v}" for k, v in selector(cfg).items())
    return Plan(render_kubernetes(cfg, model_uri), "Deployment", cfg.name, PORT_NAME, sel)


def restorable(obj: dict[str, Any]) -> dict[str, Any]:
    """A live object stripped of server-owned fields, ready to be applied back."""
    out = copy.deepcopy(obj)
    out.pop("status", None)
    meta = out.setdefault("metadata", {})
    for key in SERVER_FIELDS:
        meta.pop(key, None)
    annotations = meta.get("annotations") or {}
    for key in SERVER_ANNOTATIONS:
        annotations.pop(key, None)
    if out.get("kind") == "Deployment":
        out.get("spec", {}).pop("replicas", None)  # the HPA's field: owning it would reset it on the next apply
    return out


def _key(obj: dict[str, Any]) -> tuple[str, str]:
    return obj["kind"], obj["metadata"]["name"]


def _template_hash(obj: dict[str, Any]) -> str | None:
    template = (obj.get("spec") or {}).get("template") or {}
    return ((template.get("metadata") or {}).get("annotations") or {}).get(TEMPLATE_HASH)


def deploy_cluster(
    cfg: DeployConfig,
    model: PinnedModel,
    api: KubeApi,
    registry: DeployRegistry | None,
    *,
    expected: np.ndarray,
    rendered_uri: str | None = None,
    poll: float = 1.0,
) -> DeployResult:
    """Roll ``model`` out to the cluster behind ``api``; on failure restore and raise ``DeployFailed``.

    ``expected`` is the probe's mask (``personseg.deploy.expected_mask``) the Service must answer.
    """
    start = time.monotonic()
    plan = plan_for(cfg, rendered_uri or model.pinned)
    namespace = cfg.namespace
    previous = {_key(o): api.get(o["kind"], namespace, o["metadata"]["name"]) for o in plan.objects}
    applied: list[dict[str, Any]] = []
    try:
        for obj in plan.objects:
            applied.append(api.apply(obj, cfg.field_manager))
        workload = next(o for o in applied if o["kind"] == plan.workload_kind)
        wait_for_rollout(
            api, kind=plan.workload_kind, namespace=namespace, name=cfg.name,
            generation=int(workload["metadata"].get("generation", 1)), pod_selector=plan.pod_selector,
            template_hash=_template_hash(workload), timeout=cfg.timeout, poll=poll,
        )
        smoke = run_smoke(lambda path, body, ctype: api.proxy_post(namespace, plan.service, plan.service_port,
                                                                   path, body, ctype), expected)
    except (RolloutFailed, SmokeFailed, KubeError) as exc:
        reason = str(exc)
        restored = _rollback(cfg, api, plan, previous, applied, poll) if applied else "nothing had changed"
        _record(registry, model, "rolled-back" if applied else "deploy-failed", reason)
        raise DeployFailed(f"deploy of {model.pinned} to {cfg.target} namespace '{namespace}' failed: {reason}\n"
                           f"rollback: {restored}", rolled_back=bool(applied)) from None
    if registry is not None and model.in_registry:
        registry.promote(model.name, model.version, "production")
    _record(registry, model, "deployed", f"{cfg.target}/{namespace}/{cfg.name}")
    return DeployResult(
        target=cfg.target, name=cfg.name, namespace=namespace, model=model.uri, pinned_model=model.pinned,
        image=cfg.image, status="deployed", seconds=round(time.monotonic() - start, 3),
        endpoint=f"http://{plan.service}.{namespace}.svc:{SERVICE_PORT}",
        smoke=smoke.to_dict(), config=cfg.to_dict(),
    )


def _rollback(
    cfg: DeployConfig, api: KubeApi, plan: Plan, previous: dict[tuple[str, str], Any],
    applied: list[dict[str, Any]], poll: float,
) -> str:
    """Put every touched object back as it was; return a one-line account of what happened."""
    done: list[str] = []
    try:
        for obj in reversed(applied):
            key = _key(obj)
            before = previous.get(key)
            if before is None:
                api.delete(key[0], cfg.namespace, key[1])
                done.append(f"deleted new {key[0].lower()}/{key[1]}")
            else:
                api.apply(restorable(before), cfg.field_manager)
                done.append(f"restored {key[0].lower()}/{key[1]}")
        before = previous.get((plan.workload_kind, cfg.name))
        if before is not None:
            live = api.get(plan.workload_kind, cfg.namespace, cfg.name) or {}
            wait_for_rollout(
                api, kind=plan.workload_kind, namespace=cfg.namespace, name=cfg.name,
                generation=int((live.get("metadata") or {}).get("generation", 1)), pod_selector=plan.pod_selector,
                template_hash=_template_hash(live), timeout=min(cfg.timeout, 120.0), poll=poll,
            )
            done.append("previous version available again")
    except UserError as exc:
        done.append(f"ROLLBACK INCOMPLETE: {exc}")
    return "; ".join(done)


def _record(registry: DeployRegistry | None, model: PinnedModel, status: str, detail: str) -> None:
    if registry is not None and model.in_registry:
        registry.mark(model.name, model.version, status, detail=detail[:2000])

