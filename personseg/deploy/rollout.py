"""Wait for a rollout the way ``kubectl rollout status`` judges it, and explain a failure.

Done means: the controller has seen our generation, every replica runs the new template and every
one of them is available. Pods that cannot ever become ready (image pull errors, a missing Secret,
crash loops) fail the wait at once instead of after the timeout; a timeout reports the pods' states
and the namespace's recent warning events, which is what an operator would look at next.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from typing import Any

from personseg.deploy.objects import TEMPLATE_HASH
from personseg.errors import UserError
from personseg.kube import KubeApi

FATAL_WAITING = {
    "ErrImagePull": "image pull failed",
    "ImagePullBackOff": "image pull failed",
    "InvalidImageName": "invalid image name",
    "CreateContainerConfigError": "container config error (missing Secret or key?)",
    "CrashLoopBackOff": "container keeps crashing",
}


# What a serving pod's last words say when it could not reach S3: our server's storage error
# (personseg.storage.client), or botocore's, which KServe's storage initializer uses.
S3_UNREACHABLE = (re.compile(r"S3 endpoint (\S+) unreachable"),
                  re.compile(r'Could not connect to the endpoint URL: "?([^"\s]+)'))


class RolloutFailed(UserError):
    """The new version did not become available; the message carries the evidence."""


def s3_unreachable(pods: list[dict[str, Any]], template_hash: str | None) -> str | None:
    """The S3 endpoint a new pod's container died failing to reach (its termination message), if any."""
    for pod in pods:
        if template_hash and ((pod.get("metadata") or {}).get("annotations") or {}).get(TEMPLATE_HASH) != template_hash:
            continue
        status = pod.get("status") or {}
        for cs in (status.get("initContainerStatuses") or []) + (status.get("containerStatuses") or []):
            for state in (cs.get("lastState") or {}, cs.get("state") or {}):
                message = str((state.get("terminated") or {}).get("message") or "")
                for pattern in S3_UNREACHABLE:
                    found = pattern.search(message)
                    if found:
                        return found.group(1)
    return None


def _conditions(obj: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {c.get("type", ""): c for c in (obj.get("status") or {}).get("conditions") or []}


def deployment_progress(dep: dict[str, Any], generation: int) -> tuple[bool, str]:
    """(done, what is still missing) for a Deployment object."""
    status = dep.get("status") or {}
    want = int((dep.get("spec") or {}).get("replicas", 1))
    observed = int(status.get("observedGeneration", 0))
    updated = int(status.get("updatedReplicas", 0))
    total = int(status.get("replicas", 0))
    available = int(status.get("availableReplicas", 0))
    progressing = _conditions(dep).get("Progressing", {})
    if progressing.get("reason") == "ProgressDeadlineExceeded":
        raise RolloutFailed(f"deployment exceeded its progress deadline: {progressing.get('message', '')}")
    if observed < generation:
        return False, f"controller has not seen generation {generation} yet (observed {observed})"
    done = updated >= want and total <= updated and available >= want
    state = f"{updated}/{want} replicas updated, {available} available, {max(0, total - updated)} old still running"
    return done, state


def predictor_deployment(isvc_name: str) -> str:
    """The Deployment KServe's raw mode makes for the predictor (``<name>-predictor``, KServe >= 0.10)."""
    return f"{isvc_name}-predictor"


def _serving_container(containers: list[dict[str, Any]]) -> tuple[Any, Any]:
    """(image, STORAGE_URI) of the model container: what a new version changes."""
    first = (containers or [{}])[0]
    storage = next((e.get("value") for e in first.get("env") or [] if e.get("name") == "STORAGE_URI"), None)
    return first.get("image"), storage


def inference_service_progress(isvc: dict[str, Any], predictor: dict[str, Any] | None) -> tuple[bool, str]:
    """(done, what is still missing) for a KServe InferenceService in raw deployment mode.

    The InferenceService's own ``status.observedGeneration`` cannot tell whether our spec rolled out:
    KServe copies the predictor Deployment's observedGeneration there, and derives ``Ready`` from the
    Deployment's ``Available`` condition, which stays True while old pods serve during a rolling update
    (kserve ``pkg/apis/serving/v1beta1/inference_service_status.go`` ``PropagateRawStatus``, v0.13.0 to
    v0.20.0; kserve/kserve#6081). So judge the predictor Deployment itself: it must carry the
    InferenceService's current model container and be rolled out as ``kubectl rollout status`` says,
    and only then the InferenceService's Ready.
    """
    name = isvc.get("metadata", {}).get("name", "?")
    if predictor is None:
        return False, f"KServe has not created deployment/{predictor_deployment(name)} yet"
    want = _serving_container(((isvc.get("spec") or {}).get("predictor") or {}).get("containers") or [])
    template = ((predictor.get("spec") or {}).get("template") or {}).get("spec") or {}
    if _serving_container(template.get("containers") or []) != want:
        return False, f"KServe has not written the new model container into deployment/{predictor_deployment(name)}"
    generation = int((predictor.get("metadata") or {}).get("generation", 1))
    done, state = deployment_progress(predictor, generation)
    if not done:
        return False, f"deployment/{predictor_deployment(name)}: {state}"
    ready = _conditions(isvc).get("Ready", {})
    if ready.get("status") != "True":
        why = f"{ready.get('reason', '')} {ready.get('message', '')}".strip()
        return False, f"Ready={ready.get('status', 'Unknown')} {why}".strip()
    return True, f"{state}, Ready=True"


def pod_problems(pods: list[dict[str, Any]], template_hash: str | None) -> tuple[list[str], list[str]]:
    """(fatal problems, other states) of the pods of this rollout, one line per pod."""
    fatal: list[str] = []
    states: list[str] = []
    for pod in pods:
        meta = pod.get("metadata") or {}
        if template_hash and (meta.get("annotations") or {}).get(TEMPLATE_HASH) != template_hash:
            continue
        name = meta.get("name", "?")
        status = pod.get("status") or {}
        for cs in (status.get("initContainerStatuses") or []) + (status.get("containerStatuses") or []):
            waiting = (cs.get("state") or {}).get("waiting") or {}
            reason = waiting.get("reason", "")
            if reason in FATAL_WAITING:
                fatal.append(f"pod {name} container {cs.get('name')}: {FATAL_WAITING[reason]} "
                             f"({reason}: {waiting.get('message', '')}) image {cs.get('image', '?')}")
            elif reason:
                states.append(f"pod {name} container {cs.get('name')}: waiting ({reason})")
            elif not cs.get("ready"):
                states.append(f"pod {name} container {cs.get('name')}: running, not ready "
                              f"(restarts {cs.get('restartCount', 0)})")
        if not status.get("containerStatuses"):
            states.append(f"pod {name}: {status.get('phase', 'Unknown')}")
    return fatal, states


def recent_events(api: KubeApi, namespace: str, prefix: str, limit: int = 10) -> list[str]:
    """The latest events about objects named ``prefix*`` (the Deployment, its ReplicaSets and pods)."""
    events = [e for e in api.list("Event", namespace)
              if str((e.get("involvedObject") or {}).get("name", "")).startswith(prefix)]
    events.sort(key=lambda e: str(e.get("lastTimestamp") or e.get("eventTime") or ""))
    lines = []
    for e in events[-limit:]:
        obj = e.get("involvedObject") or {}
        lines.append(f"{e.get('type', '')} {e.get('reason', '')} {obj.get('kind', '')}/{obj.get('name', '')}: "
                     f"{str(e.get('message', '')).strip()}")
    return lines


def wait_for_rollout(
    api: KubeApi,
    *,
    kind: str,
    namespace: str,
    name: str,
    generation: int,
    pod_selector: str,
    template_hash: str | None,
    timeout: float,
    poll: float = 1.0,
    clock: Callable[[], float] = time.monotonic,
) -> str:
    """Block until the rollout is done; raise ``RolloutFailed`` with evidence otherwise."""
    deadline = clock() + timeout
    missing = "nothing observed yet"
    while True:
        obj = api.get(kind, namespace, name)
        if obj is None:
            raise RolloutFailed(f"{kind.lower()}/{name} disappeared from namespace '{namespace}' during the rollout")
        if kind == "Deployment":
            done, missing = deployment_progress(obj, generation)
        else:
            done, missing = inference_service_progress(obj, api.get("Deployment", namespace,
                                                                    predictor_deployment(name)))
        if done:
            return missing
        pods = api.list("Pod", namespace, label_selector=pod_selector)
        endpoint = s3_unreachable(pods, template_hash)
        if endpoint:
            raise RolloutFailed(f"serving pods in namespace '{namespace}' cannot reach S3 at {endpoint}: let the "
                                "namespace reach the object store (docs/kubeflow.md, 'The object store')")
        fatal, states = pod_problems(pods, template_hash)
        if fatal:
            raise RolloutFailed(_report(f"rollout of {kind.lower()}/{name} cannot succeed", fatal, states,
                                        recent_events(api, namespace, name)))
        if clock() >= deadline:
            raise RolloutFailed(_report(f"rollout of {kind.lower()}/{name} in '{namespace}' did not finish in "
                                        f"{timeout:g}s: {missing}", fatal, states, recent_events(api, namespace, name)))
        time.sleep(poll)


def _report(headline: str, fatal: list[str], states: list[str], events: list[str]) -> str:
    lines = [headline, *fatal, *states]
    lines += ["events:", *(f"  {e}" for e in events)] if events else ["events: none recorded"]
    return "\n".join(lines)
