"""One deploy at a time per served name: a ``coordination.k8s.io/v1`` Lease held for the whole deploy.

Without it two deploys of one name interleave: each reads the "previous" state before it applies,
so a failed deploy's rollback re-applies what it saw and can undo the other's rollout. The Lease
``personseg-deploy-<name>`` is created with a POST, which the API server refuses with 409
AlreadyExists while another deploy holds it, and deleted at the end with a precondition on its uid.
A holder that died leaves a Lease that expires ``leaseDurationSeconds`` after its ``renewTime`` (the
deploy timeout plus a margin: a deploy never renews); the next deploy then takes it over with a PUT
carrying the resourceVersion it read, refused with 409 Conflict if a third deploy was faster. Expiry
is judged on this machine's clock against the holder's, so clocks skewed by more than the margin
shorten or lengthen the wait by that much.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import os
import socket
import uuid
from collections.abc import Iterator
from typing import Any

from personseg.deploy.outcome import DeployBusy
from personseg.kube import KubeApi, KubeError

log = logging.getLogger(__name__)
LEASE_PREFIX = "personseg-deploy-"
MARGIN_SECONDS = 120


def lease_name(name: str) -> str:
    """The Lease that guards deploys of ``name``."""
    return f"{LEASE_PREFIX}{name}"


def _micro_time(when: dt.datetime) -> str:
    """Kubernetes MicroTime (RFC 3339 with microseconds), as Lease times are written."""
    return when.astimezone(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _parse_time(text: str | None) -> dt.datetime | None:
    if not text:
        return None
    try:
        return dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None


def _body(namespace: str, name: str, holder: str, seconds: int) -> dict[str, Any]:
    now = _micro_time(dt.datetime.now(dt.timezone.utc))
    return {
        "apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
        "metadata": {"name": name, "namespace": namespace, "labels": {"app.kubernetes.io/part-of": "personseg"}},
        "spec": {"holderIdentity": holder, "leaseDurationSeconds": seconds, "acquireTime": now, "renewTime": now},
    }


def _expired(lease: dict[str, Any]) -> bool:
    spec = lease.get("spec") or {}
    renewed = _parse_time(spec.get("renewTime") or spec.get("acquireTime"))
    seconds = int(spec.get("leaseDurationSeconds") or 0)
    return renewed is None or renewed + dt.timedelta(seconds=seconds) < dt.datetime.now(dt.timezone.utc)


def _take_over(api: KubeApi, body: dict[str, Any]) -> dict[str, Any]:
    """Replace an expired Lease, or raise ``DeployBusy`` naming who holds a live one."""
    meta = body["metadata"]
    current = api.get("Lease", meta["namespace"], meta["name"])
    if current is None:  # released between our POST and this GET: create it again
        return api.create(body)
    spec = current.get("spec") or {}
    if not _expired(current):
        raise DeployBusy(
            f"another deploy of '{meta['name'].removeprefix(LEASE_PREFIX)}' in namespace '{meta['namespace']}' "
            f"is running (Lease {meta['name']} held by {spec.get('holderIdentity')} since "
            f"{spec.get('acquireTime')}, for up to {spec.get('leaseDurationSeconds')} s); retry when it ends"
        )
    taken = {**body, "metadata": {**meta, "resourceVersion": current["metadata"]["resourceVersion"]}}
    return api.replace(taken)


@contextlib.contextmanager
def deploy_lease(api: KubeApi, namespace: str, name: str, timeout: float) -> Iterator[dict[str, Any]]:
    """Hold the deploy Lease of ``name`` for the block; ``DeployBusy`` if another deploy holds it."""
    holder = f"{socket.gethostname()}/{os.getpid()}/{uuid.uuid4().hex[:8]}"
    body = _body(namespace, lease_name(name), holder, int(timeout) + MARGIN_SECONDS)
    try:
        lease = api.create(body)
    except KubeError as exc:
        if exc.status != 409:
            raise
        try:
            lease = _take_over(api, body)
        except KubeError as lost:
            if lost.status != 409:
                raise
            raise DeployBusy(f"another deploy of '{name}' in namespace '{namespace}' took Lease "
                             f"{lease_name(name)} first; retry when it ends") from None
    try:
        yield lease
    except BaseException:
        _release(api, namespace, name, lease, quiet=True)  # the deploy's own error is the one to report
        raise
    _release(api, namespace, name, lease, quiet=False)


def _release(api: KubeApi, namespace: str, name: str, lease: dict[str, Any], quiet: bool) -> None:
    """Delete our Lease (only ours: uid precondition); one that another deploy took over after expiry stays."""
    try:
        api.delete("Lease", namespace, lease_name(name), preconditions={"uid": lease["metadata"]["uid"]})
    except KubeError as exc:
        if exc.status == 409:
            log.warning("Lease %s was taken over by another deploy before this one ended", lease_name(name))
        elif quiet:
            log.warning("could not release Lease %s (%s); it expires by itself", lease_name(name), exc)
        else:
            raise
