"""The Kubernetes calls the TrainJob path makes, and nothing else: what manifests/rbac/trainjob grants.

The ``kubernetes`` client's ``CustomObjectsApi`` creates, reads and deletes the TrainJob and
``CoreV1Api`` finds node 0's pod and follows its log. The kubeflow SDK's ``TrainerClient`` was not
used: constructing it loads cluster credentials and its ``train`` reads the ClusterTrainingRuntime
and a Trainer ConfigMap first, which would need RBAC on cluster-scoped objects this step never
needs; the object here is a plain dict, validated in the tests against ``kubeflow_trainer_api``.
Every API error becomes a ``KubeError`` naming the verb, the object and the namespace.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from personseg.kube import Forbidden, KubeError
from personseg.training.trainjob import (
    COMPLETION_INDEX_LABEL,
    GROUP,
    NODE_CONTAINER,
    PLURAL,
    VERSION,
    node_pod_selector,
)

# The API server's strict field validation error (apimachinery's strict decoding error).
UNKNOWN_FIELD = re.compile(r'unknown field \\?"spec\.([A-Za-z]+)')


class UnknownField(KubeError):
    """The TrainJob CRD in the cluster has no such spec field (an older Trainer)."""

    def __init__(self, message: str, field_name: str) -> None:
        super().__init__(message, 400)
        self.field = field_name


class TrainJobApi:
    """TrainJobs in one namespace: create / get / delete, node 0's pod and its log."""

    def __init__(self, api_client: Any, namespace: str, request_timeout: float = 30.0) -> None:
        from kubernetes import client

        self.namespace = namespace
        self.custom = client.CustomObjectsApi(api_client)
        self.core = client.CoreV1Api(api_client)
        self.request_timeout = request_timeout
        self.host = str(api_client.configuration.host)

    def _error(self, exc: Any, verb: str, what: str) -> KubeError:
        import json

        try:
            detail = json.loads(exc.body).get("message") or exc.reason
        except (TypeError, ValueError, AttributeError):
            detail = exc.reason
        if exc.status == 403 and "admission webhook" in str(detail):
            return KubeError(f"{verb} {what} in namespace '{self.namespace}' refused by an admission webhook: "
                             f"{detail}", 403)
        if exc.status == 403:
            return Forbidden(f"forbidden by RBAC: cannot {verb} {what} in namespace '{self.namespace}': {detail}; "
                             "grant it in manifests/rbac/trainjob/role.yaml", 403)
        if exc.status == 0:
            return KubeError(f"cannot reach the Kubernetes API at {self.host}: {exc.reason}")
        return KubeError(f"{verb} {what} in namespace '{self.namespace}' failed ({exc.status}): {detail}", exc.status)

    def _call(self, verb: str, what: str, fn: Any, *args: Any, **kwargs: Any) -> Any:
        from kubernetes.client.exceptions import ApiException
        from urllib3.exceptions import HTTPError

        try:
            return fn(*args, **kwargs)
        except ApiException as exc:
            raise self._error(exc, verb, what) from None
        except HTTPError as exc:
            raise KubeError(f"cannot reach the Kubernetes API at {self.host}: {exc}") from None

    def create(self, obj: dict[str, Any]) -> dict[str, Any]:
        """POST the TrainJob; the API server validates it against the CRD's schema and Trainer's webhook.

        With ``fieldValidation=Strict`` a field the installed Trainer's CRD does not know is refused
        (400, ``unknown field "spec.x"``) instead of silently dropped, so the caller can tell which
        Trainer it talks to (Kubernetes field validation, GA in 1.27); ``UnknownField`` names it.
        """
        name = obj["metadata"]["name"]
        try:
            return self._call("create", f"{PLURAL}.{GROUP}/{name}", self.custom.create_namespaced_custom_object,
                              GROUP, VERSION, self.namespace, PLURAL, obj, field_validation="Strict",
                              _request_timeout=self.request_timeout)
        except KubeError as exc:
            found = UNKNOWN_FIELD.search(str(exc)) if exc.status == 400 else None
            if found:
                raise UnknownField(str(exc), found.group(1)) from None
            raise

    def get(self, name: str) -> dict[str, Any] | None:
        """The TrainJob with its status, or None when it does not exist (any more)."""
        try:
            return self._call("get", f"{PLURAL}.{GROUP}/{name}", self.custom.get_namespaced_custom_object,
                              GROUP, VERSION, self.namespace, PLURAL, name, _request_timeout=self.request_timeout)
        except KubeError as exc:
            if exc.status == 404:
                return None
            raise

    def delete(self, name: str) -> bool:
        """Delete the TrainJob (its JobSet and pods follow by owner reference); False if already gone."""
        from kubernetes import client

        try:
            self._call("delete", f"{PLURAL}.{GROUP}/{name}", self.custom.delete_namespaced_custom_object,
                       GROUP, VERSION, self.namespace, PLURAL, name,
                       body=client.V1DeleteOptions(propagation_policy="Background"),
                       _request_timeout=self.request_timeout)
        except KubeError as exc:
            if exc.status == 404:
                return False
            raise
        return True

    def node_pod(self, job: str, index: int = 0) -> dict[str, Any] | None:
        """The newest pod of trainer node ``index`` (name and phase), or None before it exists."""
        pods = self._call("list", "pods", self.core.list_namespaced_pod, self.namespace,
                          label_selector=node_pod_selector(job, index), _request_timeout=self.request_timeout)
        items = sorted(pods.items, key=lambda p: str(p.metadata.creation_timestamp or ""))
        if not items:
            return None
        pod = items[-1]
        return {"name": pod.metadata.name, "phase": pod.status.phase if pod.status else None}

    def failed_nodes(self, job: str) -> list[str]:
        """"node I: exit code C (reason)" for each trainer pod of ``job`` whose container failed."""
        pods = self._call("list", "pods", self.core.list_namespaced_pod, self.namespace,
                          label_selector=node_pod_selector(job, None), _request_timeout=self.request_timeout)
        out = []
        for pod in pods.items:
            for status in (pod.status.container_statuses or []) if pod.status else []:
                term = status.state.terminated if status.state else None
                if status.name == NODE_CONTAINER and term is not None and term.exit_code:
                    index = (pod.metadata.labels or {}).get(COMPLETION_INDEX_LABEL, "?")
                    out.append(f"node {index}: exit code {term.exit_code} ({term.reason or 'no reason'})")
        return sorted(out)

    def follow_log(self, pod: str) -> Any:
        """An open, streaming response of the trainer container's log (``follow=True``); iterate with ``lines``."""
        return self._call("get", f"pods/{pod}/log", self.core.read_namespaced_pod_log, pod, self.namespace,
                          container=NODE_CONTAINER, follow=True, _preload_content=False)


def lines(resp: Any) -> Iterator[str]:
    """The lines of a streaming log response as they arrive."""
    from kubernetes.watch.watch import iter_resp_lines

    yield from iter_resp_lines(resp)
