"""A small typed door onto the Kubernetes API: server-side apply, get, delete, pods, events, proxy.

Every object is applied with the ``kubernetes`` client's own server-side apply,
``DynamicClient.server_side_apply``: a PATCH with ``application/apply-patch+yaml``, our field manager
and ``force=true``, for namespaced and cluster-scoped kinds and custom resources alike (Deployments,
Services, HPAs, ServiceAccounts, the KServe InferenceService). The dynamic client would discover
every API group first; personseg knows where its kinds live (``KINDS``), so it skips discovery. Reads,
deletes, lists and the service proxy go through ``ApiClient.call_api``. Each API error becomes a
message that names the verb, resource and namespace.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

from personseg.errors import UserError


@dataclass(frozen=True)
class Kind:
    """Where one kind of object lives in the REST API."""

    api_version: str
    kind: str
    plural: str
    namespaced: bool = True

    @property
    def group(self) -> str:
        """The API group ('' for the core group), as RBAC rules name it."""
        return self.api_version.split("/")[0] if "/" in self.api_version else ""

    def path(self, namespace: str | None, name: str | None = None) -> str:
        """The collection path, or the object path when ``name`` is given."""
        return self.resource().path(name=name, namespace=namespace if self.namespaced else None)

    def resource(self) -> Any:
        """The dynamic client's ``Resource`` for this kind, built without asking the API server."""
        from kubernetes.dynamic.resource import Resource

        group, _, version = self.api_version.rpartition("/")
        return Resource(prefix="apis" if group else "api", group=group, api_version=version, kind=self.kind,
                        namespaced=self.namespaced, name=self.plural)


KINDS = {
    k.kind: k
    for k in (
        Kind("apps/v1", "Deployment", "deployments"),
        Kind("v1", "Service", "services"),
        Kind("v1", "ServiceAccount", "serviceaccounts"),
        Kind("v1", "Pod", "pods"),
        Kind("v1", "Event", "events"),
        Kind("v1", "ConfigMap", "configmaps"),
        Kind("autoscaling/v2", "HorizontalPodAutoscaler", "horizontalpodautoscalers"),
        Kind("serving.kserve.io/v1beta1", "InferenceService", "inferenceservices"),
        Kind("coordination.k8s.io/v1", "Lease", "leases"),
    )
}


class KubeError(UserError):
    """The API server refused or failed a request; the message names what was asked."""

    def __init__(self, message: str, status: int = 0) -> None:
        super().__init__(message)
        self.status = status


class Forbidden(KubeError):
    """RBAC said no: the message names the verb, resource, API group and namespace."""


def kind_of(obj: dict[str, Any]) -> Kind:
    """The ``Kind`` of a rendered object; unknown kinds are a programming error in the renderer."""
    kind = KINDS.get(obj.get("kind", ""))
    if kind is None or kind.api_version != obj.get("apiVersion"):
        raise ValueError(f"no API path known for {obj.get('apiVersion')}/{obj.get('kind')}")
    return kind


def connect(context: str | None = None) -> Any:
    """An ``ApiClient`` from in-cluster credentials or the kubeconfig, or a clear error without them."""
    from kubernetes import client, config

    cfg = client.Configuration()
    try:
        if os.environ.get("KUBERNETES_SERVICE_HOST") and context is None:
            config.load_incluster_config(client_configuration=cfg)
        else:
            # read KUBECONFIG now: the client's default location is fixed when it is first imported
            config.load_kube_config(config_file=os.environ.get("KUBECONFIG", "~/.kube/config"), context=context,
                                    client_configuration=cfg)
    except (config.ConfigException, OSError) as exc:
        where = os.environ.get("KUBECONFIG", "~/.kube/config")
        raise UserError(
            f"no Kubernetes cluster credentials: none in-cluster and none usable in kubeconfig {where} ({exc}); "
            "set KUBECONFIG or run inside the cluster with a service account"
        ) from None
    return client.ApiClient(cfg)


class _KnownKinds:
    """A discoverer that discovers nothing: ``Kind.resource()`` already says where each kind lives."""

    def __init__(self, client: Any, cache_file: Any) -> None:
        del client, cache_file  # DynamicClient's discoverer signature


class KubeApi:
    """The handful of API calls the rollout needs, each with errors translated."""

    def __init__(self, api_client: Any, request_timeout: float = 30.0) -> None:
        from kubernetes.dynamic import DynamicClient

        self.client = api_client
        self.dynamic = DynamicClient(api_client, discoverer=_KnownKinds)
        self.request_timeout = request_timeout

    @property
    def host(self) -> str:
        """The API server address, for messages."""
        return str(self.client.configuration.host)

    def _call(
        self,
        verb: str,
        kind: Kind,
        namespace: str,
        name: str | None,
        method: str,
        path: str,
        *,
        query: list[tuple[str, Any]] | None = None,
        body: Any = None,
        content_type: str = "application/json",
        raw: bool = False,
    ) -> Any:
        from kubernetes.client.exceptions import ApiException
        from urllib3.exceptions import HTTPError

        headers = {"Accept": "application/json", "Content-Type": content_type}
        try:
            result = self.client.call_api(
                path,
                method,
                query_params=query or [],
                header_params=headers,
                body=body,
                response_type=None if raw else "object",
                auth_settings=["BearerToken"],
                _return_http_data_only=True,
                _preload_content=not raw,
                _request_timeout=self.request_timeout,
            )
        except ApiException as exc:
            raise self._translate(exc, verb, kind, namespace, name) from None
        except HTTPError as exc:
            raise KubeError(f"cannot reach the Kubernetes API at {self.host}: {exc}") from None
        return result

    def _translate(self, exc: Any, verb: str, kind: Kind, namespace: str | None, name: str | None) -> KubeError:
        what = f"{kind.plural}{'/' + name if name else ''}"
        group = kind.group or "core"
        where = f"in namespace '{namespace}'" if namespace else "(cluster-scoped)"
        detail = _status_message(exc)
        if exc.status == 401:
            return KubeError(f"Kubernetes API at {self.host} rejected the credentials (401): {detail}", 401)
        if exc.status == 403:
            return Forbidden(
                f"forbidden by RBAC: cannot {verb} {kind.plural} (API group '{group}') {where} "
                f"[{what}]: {detail}; grant it in manifests/rbac/role.yaml",
                403,
            )
        if exc.status == 0:
            return KubeError(f"cannot reach the Kubernetes API at {self.host}: {exc.reason}")
        return KubeError(f"{verb} {what} {where} failed ({exc.status}): {detail}", exc.status)

    def get(self, kind_name: str, namespace: str, name: str) -> dict[str, Any] | None:
        """The object, or None when it does not exist."""
        kind = KINDS[kind_name]
        try:
            return self._call("get", kind, namespace, name, "GET", kind.path(namespace, name))
        except KubeError as exc:
            if exc.status == 404:
                return None
            raise

    def apply(self, obj: dict[str, Any], field_manager: str) -> dict[str, Any]:
        """Server-side apply ``obj`` (creates or updates; applying the same object twice changes nothing).

        ``force`` takes over fields another manager set (a ``kubectl scale``, an old field manager):
        the deploy owns what it renders. The API server reads any case of ``true``; kubectl sends "true".
        """
        import json

        from kubernetes.client.exceptions import ApiException
        from urllib3.exceptions import HTTPError

        kind = kind_of(obj)
        meta = obj["metadata"]
        namespace = meta.get("namespace") if kind.namespaced else None
        try:
            resp = self.dynamic.server_side_apply(
                kind.resource(), body=obj, namespace=namespace, field_manager=field_manager,
                force_conflicts="true", serialize=False, _request_timeout=self.request_timeout,
            )
        except ApiException as exc:
            raise self._translate(exc, "patch", kind, namespace, meta["name"]) from None
        except HTTPError as exc:
            raise KubeError(f"cannot reach the Kubernetes API at {self.host}: {exc}") from None
        return json.loads(resp.data)

    def create(self, obj: dict[str, Any]) -> dict[str, Any]:
        """POST a new object; a ``KubeError`` with status 409 when one of that name exists."""
        kind = kind_of(obj)
        namespace = obj["metadata"].get("namespace")
        return self._call("create", kind, namespace, None, "POST", kind.path(namespace), body=obj)

    def replace(self, obj: dict[str, Any]) -> dict[str, Any]:
        """PUT an object back; with ``metadata.resourceVersion`` set, 409 when it changed since it was read."""
        kind = kind_of(obj)
        meta = obj["metadata"]
        return self._call("update", kind, meta.get("namespace"), meta["name"], "PUT",
                          kind.path(meta.get("namespace"), meta["name"]), body=obj)

    def delete(self, kind_name: str, namespace: str, name: str, preconditions: dict[str, str] | None = None) -> bool:
        """Delete an object; False when it was gone. Unmet ``preconditions`` (uid, resourceVersion) give 409."""
        kind = KINDS[kind_name]
        body: dict[str, Any] = {"propagationPolicy": "Foreground"}
        if preconditions:
            body["preconditions"] = preconditions
        try:
            self._call("delete", kind, namespace, name, "DELETE", kind.path(namespace, name), body=body)
        except KubeError as exc:
            if exc.status == 404:
                return False
            raise
        return True

    def list(self, kind_name: str, namespace: str, label_selector: str = "", field_selector: str = "") -> list[dict]:
        """Items of a namespaced collection, optionally filtered server-side."""
        kind = KINDS[kind_name]
        query = [(k, v) for k, v in (("labelSelector", label_selector), ("fieldSelector", field_selector)) if v]
        data = self._call("list", kind, namespace, None, "GET", kind.path(namespace), query=query)
        return list(data.get("items") or [])

    def proxy_post(
        self, namespace: str, service: str, port: str, path: str, body: bytes, content_type: str
    ) -> tuple[int, str, bytes]:
        """POST through the API server's service proxy; returns (status, content type, body).

        This reaches the Service exactly as in-cluster clients do, from wherever the deploy runs.
        """
        from kubernetes.client.exceptions import ApiException
        from urllib3.exceptions import HTTPError

        kind = KINDS["Service"]
        route, _, query = path.partition("?")
        url = f"{kind.path(namespace, f'{service}:{port}')}/proxy/{route.lstrip('/')}"
        params = [tuple(p.split("=", 1)) for p in query.split("&") if "=" in p]
        try:
            resp = self.client.call_api(
                url, "POST", query_params=params, header_params={"Content-Type": content_type, "Accept": "*/*"},
                body=body, auth_settings=["BearerToken"], _return_http_data_only=True, _preload_content=False,
                _request_timeout=self.request_timeout,
            )
        except ApiException as exc:
            if exc.status in (401, 403):
                proxy = Kind("v1", "Service", "services/proxy")
                raise self._translate(exc, "create", proxy, namespace, service) from None
            data = exc.body if isinstance(exc.body, bytes) else str(exc.body or "").encode()
            return exc.status, (exc.headers or {}).get("Content-Type", ""), data
        except HTTPError as exc:
            raise KubeError(f"cannot reach the Kubernetes API at {self.host}: {exc}") from None
        return resp.status, resp.headers.get("Content-Type", ""), resp.data


def _status_message(exc: Any) -> str:
    """The ``message`` of a Kubernetes ``Status`` body, else the HTTP reason."""
    import json

    body = exc.body.decode(errors="replace") if isinstance(exc.body, bytes) else exc.body
    try:
        data = json.loads(body or "")
    except ValueError:
        return str(exc.reason or body or "")
    return str(data.get("message") or exc.reason) if isinstance(data, dict) else str(exc.reason)
