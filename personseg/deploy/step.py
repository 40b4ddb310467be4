"""Deploy a model version: render, apply, wait, smoke-test, roll back, record in the registry.

``run(config)`` is the step function the CLI and the pipeline component call. Targets:
``kubernetes`` (Deployment + Service + HPA + ServiceAccount), ``kserve`` (InferenceService in raw
deployment mode), ``local`` (a server process on 127.0.0.1) and ``container`` (the serving image on
this machine's Docker or podman). ``render(config)`` gives the YAML
that ``--dry-run`` prints, without touching a cluster. The mask the smoke test must see is read (or,
for a model outside the registry, computed) before anything changes, so a version whose card has
none is refused without a rollout.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from personseg.deploy.config import DeployConfig
from personseg.deploy.outcome import DeployFailed, DeployResult
from personseg.deploy.pinned_model import DeployRegistry, PinnedModel, is_registry_ref, resolve_model
from personseg.errors import UserError
from personseg.storage.registry import Registry

__all__ = ["DeployConfig", "DeployFailed", "DeployResult", "render", "run"]


def _storage_uri(model: PinnedModel, registry: DeployRegistry | None) -> str:
    """The s3:// prefix KServe's storage initializer downloads (it cannot read models:/ refs)."""
    if model.in_registry and registry is not None:
        return registry.location(model.name, model.version)
    if model.uri.startswith("s3://"):
        return model.uri.rstrip("/") + "/"
    raise UserError(f"--model {model.uri}: the kserve target needs an s3:// prefix or a models:/ reference")


def _cluster_model(cfg: DeployConfig) -> None:
    if cfg.target == "container" and not (cfg.model.startswith("s3://") or is_registry_ref(cfg.model)):
        raise UserError(f"--model {cfg.model}: the container pulls its model from the registry at start; publish "
                        "it first (personseg models publish DIR --name NAME) and pass models:/NAME@candidate or an "
                        "s3:// URI")
    if cfg.target != "local" and not (cfg.model.startswith("s3://") or is_registry_ref(cfg.model)):
        raise UserError(f"--model {cfg.model}: a cluster cannot read a local path; publish it first "
                        "(personseg models publish DIR --name NAME) and pass models:/NAME@candidate or an s3:// URI")


def _expected(cfg: DeployConfig, model: PinnedModel, registry: DeployRegistry | None) -> np.ndarray:
    """The probe's expected mask; without one the deploy stops here and the registry says why."""
    from personseg.deploy.expected_mask import NoExpectedMask, expected_mask

    try:
        return expected_mask(model, registry)
    except NoExpectedMask as exc:
        if registry is not None and model.in_registry:
            registry.mark(model.name, model.version, "deploy-failed", detail=str(exc)[:2000])
        raise DeployFailed(f"deploy of {model.pinned} to {cfg.target} not started, nothing changed: {exc}",
                           rolled_back=False) from None


def render(cfg: DeployConfig, registry: Callable[[], DeployRegistry] = Registry.from_env) -> str:
    """The YAML ``--dry-run`` prints; only the kserve target with a models:/ ref asks the registry."""
    from personseg.deploy.kserve import render_kserve
    from personseg.deploy.objects import render_kubernetes, to_yaml

    if cfg.target in ("local", "container"):
        raise UserError(f"--dry-run prints Kubernetes objects; the {cfg.target} target has none")
    _cluster_model(cfg)
    if cfg.target == "kserve":
        model, reg = resolve_model(cfg.model, registry)
        return to_yaml(render_kserve(cfg, _storage_uri(model, reg)))
    return to_yaml(render_kubernetes(cfg, cfg.model))


def _pinned(cfg: DeployConfig, model: PinnedModel, registry: DeployRegistry | None) -> DeployConfig:
    """``cfg`` with the digest of the version's card, which the server checks its files and card against."""
    if registry is None or not model.in_registry:
        return cfg
    from personseg.storage.verify import card_digest

    return dataclasses.replace(cfg, card_sha256=card_digest(registry.card(model.name, model.version)))


def run(
    cfg: DeployConfig,
    *,
    registry: Callable[[], DeployRegistry] = Registry.from_env,
    api: Any = None,
    context: str | None = None,
    state_dir: str | Path | None = None,
    poll: float = 1.0,
) -> DeployResult:
    """Deploy ``cfg.model`` to ``cfg.target``; raise ``DeployFailed`` after restoring the previous state."""
    if cfg.target == "local":
        from personseg.deploy.local import deploy_local
        from personseg.deploy.local import state_dir as local_state_dir

        model, reg = resolve_model(cfg.model, registry)
        pinned = _pinned(cfg, model, reg)
        return deploy_local(pinned, model, reg, local_state_dir(state_dir), _expected(cfg, model, reg))
    if cfg.target == "container":
        from personseg.deploy.container import deploy_container
        from personseg.deploy.local import state_dir as local_state_dir

        _cluster_model(cfg)
        model, reg = resolve_model(cfg.model, registry)
        pinned = _pinned(cfg, model, reg)
        return deploy_container(pinned, model, reg, local_state_dir(state_dir), _expected(cfg, model, reg))

    from personseg.deploy.cluster import deploy_cluster
    from personseg.deploy.lease import deploy_lease
    from personseg.kube import KubeApi, connect

    _cluster_model(cfg)
    model, reg = resolve_model(cfg.model, registry)
    cfg = _pinned(cfg, model, reg)
    rendered = _storage_uri(model, reg) if cfg.target == "kserve" else model.pinned
    kube = api if api is not None else KubeApi(connect(context))
    mask = _expected(cfg, model, reg)
    with deploy_lease(kube, cfg.namespace, cfg.name, cfg.timeout):
        return deploy_cluster(cfg, model, kube, reg, expected=mask, rendered_uri=rendered, poll=poll)
