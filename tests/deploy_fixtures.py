"""Fixtures for the deploy tests: a STAND-IN Kubernetes API server, a recording registry, tiny models.

``FakeKubeApi`` is NOT Kubernetes. It is a small HTTP server on 127.0.0.1 that speaks just enough of
the REST API for the calls ``personseg.deploy`` makes (server-side apply PATCH, GET, DELETE, pod and
event lists, the service proxy), records every request, plays the Deployment/InferenceService
controllers in a few lines (healthy, or never available for a chosen reason) and can enforce the RBAC
Role from manifests/rbac. An applied InferenceService is checked against KServe's schema
(manifests/kserve/inferenceservice.schema.json, from the kserve SDK's models) and refused with 422.
Tests say so where they use it; the real-cluster test needs KUBECONFIG.
"""

from __future__ import annotations

import copy
import hashlib
import json
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import yaml

from personseg.errors import UserError

GROUPS = {"deployments": "apps", "horizontalpodautoscalers": "autoscaling", "inferenceservices": "serving.kserve.io",
          "leases": "coordination.k8s.io"}
TEMPLATE_HASH = "personseg.io/template-hash"
# Predictor fields KServe keeps for itself (ComponentExtensionSpec) rather than the pod template.
KSERVE_EXTENSION = ("minReplicas", "maxReplicas", "scaleMetric", "scaleTarget", "containerConcurrency", "timeout")


@dataclass
class Recorded:
    """One request as the stand-in saw it."""

    method: str
    path: str
    query: dict[str, str]
    content_type: str
    body: Any


@dataclass
class FakeKubeApi:
    """STAND-IN for the Kubernetes API (see module docstring). Not a real API server.

    ``failure(obj)`` decides how a workload's new pods behave: None (healthy), "ImagePullBackOff",
    "CrashLoopBackOff" or "unready" (running, readiness probe failing, no fatal reason).
    ``role_rules`` (the ``rules`` of an RBAC Role) makes it answer 403 to anything they do not allow;
    every check is recorded in ``authorized`` as (verb, API group, resource, name or None), the
    attributes a real API server hands its RBAC authorizer for the same request. Matching follows RBAC
    for apiGroups/resources/verbs/resourceNames but knows no "*" wildcards and no ClusterRoles.
    ``proxy_to`` is the URL service-proxy requests are forwarded to (a real model server), else 503.
    ``last_words``: a crashing container's termination message (with ``terminationMessagePolicy:
    FallbackToLogsOnError`` the kubelet puts the tail of its log there; Kubernetes API reference,
    ContainerStateTerminated.message).
    """

    failure: Callable[[dict[str, Any]], str | None] = lambda obj: None
    role_rules: list[dict[str, Any]] | None = None
    proxy_to: str | None = None
    last_words: str = ""
    requests: list[Recorded] = field(default_factory=list)
    authorized: list[tuple[str, str, str, str | None]] = field(default_factory=list)
    objects: dict[tuple[str, str, str], dict[str, Any]] = field(default_factory=dict)
    url: str = ""

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None

    # -- lifecycle -------------------------------------------------------------------------------
    def start(self) -> FakeKubeApi:
        stand_in = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def _handle(self) -> None:
                stand_in._dispatch(self)

            do_GET = do_PATCH = do_DELETE = do_POST = do_PUT = _handle

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        return self

    def stop(self) -> None:
        if self._server:
            self._server.shutdown()
            self._server.server_close()

    def client(self) -> Any:
        """A real ``kubernetes`` ApiClient pointed at the stand-in."""
        from kubernetes import client

        cfg = client.Configuration()
        cfg.host = self.url
        return client.ApiClient(cfg)

    def kube(self) -> Any:
        from personseg.kube import KubeApi

        return KubeApi(self.client(), request_timeout=10)

    # -- helpers for assertions ------------------------------------------------------------------
    def get(self, plural: str, namespace: str, name: str) -> dict[str, Any] | None:
        with self._lock:
            obj = self.objects.get((plural, namespace, name))
            return copy.deepcopy(obj) if obj else None

    def put(self, plural: str, obj: dict[str, Any]) -> None:
        """Seed an object as if applied earlier by someone (generation 1)."""
        meta = obj["metadata"]
        with self._lock:
            self.objects[(plural, meta["namespace"], meta["name"])] = self._stored(obj, None)

    def calls(self, method: str | None = None) -> list[Recorded]:
        return [r for r in self.requests if method is None or r.method == method]

    # -- the API ---------------------------------------------------------------------------------
    def _dispatch(self, h: BaseHTTPRequestHandler) -> None:
        parts = urlsplit(h.path)
        query = dict(parse_qsl(parts.query))
        length = int(h.headers.get("Content-Length") or 0)
        raw = h.rfile.read(length) if length else b""
        ctype = h.headers.get("Content-Type", "")
        segs = [s for s in parts.path.split("/") if s]
        is_proxy = "proxy" in segs
        body: Any = raw if is_proxy else (yaml.safe_load(raw) if raw else None)
        self.requests.append(Recorded(h.command, parts.path, query, ctype, body))
        try:
            ns_at = segs.index("namespaces")
        except ValueError:
            return self._send(h, 404, _status(404, "NotFound", f"stand-in does not serve {parts.path}"))
        namespace, plural = segs[ns_at + 1], segs[ns_at + 2]
        name = segs[ns_at + 3] if len(segs) > ns_at + 3 else None
        group = GROUPS.get(plural, "")
        if is_proxy:
            svc = name.split(":")[0]
            if not self._allowed("create", group, "services/proxy", name):
                return self._forbid(h, "create", group, "services/proxy", name, namespace)
            return self._proxy(h, namespace, svc, "/".join(segs[ns_at + 5:]), parts.query, raw, ctype)
        verb = {"GET": "get" if name else "list", "PATCH": "patch", "DELETE": "delete", "POST": "create",
                "PUT": "update"}.get(h.command, "?")
        if not self._allowed(verb, group, plural, name):
            return self._forbid(h, verb, group, plural, name, namespace)
        with self._lock:
            key = (plural, namespace, name or "")
            if h.command == "GET" and name:
                obj = self.objects.get(key)
                if obj is None:
                    return self._send(h, 404, _status(404, "NotFound", f'{plural} "{name}" not found'))
                return self._send(h, 200, self._observed(plural, obj))
            if h.command == "GET":
                items = self._list(plural, namespace, query)
                return self._send(h, 200, {"kind": "List", "apiVersion": "v1", "items": items})
            if h.command == "POST":
                return self._create(h, plural, namespace, body)
            if h.command == "PUT":
                return self._update(h, plural, key, body)
            if h.command == "DELETE":
                conflict = self._precondition_failed(plural, key, (body or {}).get("preconditions") or {})
                if conflict:
                    return self._send(h, 409, _status(409, "Conflict", conflict))
                gone = self.objects.pop(key, None)
                if gone is None:
                    return self._send(h, 404, _status(404, "NotFound", f'{plural} "{name}" not found'))
                uid = gone["metadata"]["uid"]  # the garbage collector removes what the object owned
                for k in [k for k, o in self.objects.items() if _owner_uid(o) == uid]:
                    del self.objects[k]
                return self._send(h, 200, _status(200, "", "deleted", "Success"))
            if h.command == "PATCH":
                if ctype != "application/apply-patch+yaml" or not query.get("fieldManager"):
                    msg = f"stand-in only takes apply patches with a fieldManager, got {ctype}"
                    return self._send(h, 415, _status(415, "UnsupportedMediaType", msg))
                # As the real API server does for an apply that creates (apiserver endpoints/handlers/
                # patch.go, createAuthorizerAttributes), the extra "create" check names the object.
                if key not in self.objects and not self._allowed("create", group, plural, name):
                    return self._forbid(h, "create", group, plural, name, namespace)
                if plural == "inferenceservices" and (problem := isvc_schema_error(body)):
                    # the CRD's schema (here: the kserve SDK's models, manifests/kserve/inferenceservice.schema.json)
                    return self._send(h, 422, _status(422, "Invalid", f'InferenceService "{name}" is invalid: '
                                                      f"{problem}"))
                self.objects[key] = self._stored(body, self.objects.get(key))
                if plural == "inferenceservices":
                    self._reconcile_predictor(self.objects[key])
                return self._send(h, 200, self._observed(plural, self.objects[key]))
        return self._send(h, 405, _status(405, "MethodNotAllowed", h.command))

    # The generic registry store of the API server (k8s.io/apiserver pkg/registry/generic/registry/store.go,
    # Kubernetes 1.31): a POST of an existing name is 409 AlreadyExists; a PUT whose resourceVersion is not
    # the stored one is 409 Conflict; a DELETE whose preconditions (uid, resourceVersion) fail is 409 Conflict.
    def _create(self, h: BaseHTTPRequestHandler, plural: str, namespace: str, body: dict[str, Any]) -> None:
        name = body["metadata"]["name"]
        key = (plural, namespace, name)
        if key in self.objects:
            group = GROUPS.get(plural, "")
            return self._send(h, 409, _status(409, "AlreadyExists", f'{plural}.{group} "{name}" already exists'))
        self.objects[key] = self._stored(body, None)
        return self._send(h, 201, copy.deepcopy(self.objects[key]))

    def _update(self, h: BaseHTTPRequestHandler, plural: str, key: tuple[str, str, str], body: dict[str, Any]) -> None:
        old = self.objects.get(key)
        if old is None:
            return self._send(h, 404, _status(404, "NotFound", f'{plural} "{key[2]}" not found'))
        wanted = (body.get("metadata") or {}).get("resourceVersion")
        if wanted and wanted != old["metadata"]["resourceVersion"]:
            msg = (f'Operation cannot be fulfilled on {plural}.{GROUPS.get(plural, "")} "{key[2]}": the object has '
                   "been modified; please apply your changes to the latest version and try again")
            return self._send(h, 409, _status(409, "Conflict", msg))
        self.objects[key] = self._stored(body, old)
        return self._send(h, 200, copy.deepcopy(self.objects[key]))

    def _precondition_failed(self, plural: str, key: tuple[str, str, str], pre: dict[str, str]) -> str | None:
        meta = (self.objects.get(key) or {}).get("metadata") or {}
        for field_name in ("uid", "resourceVersion"):
            if meta and pre.get(field_name) and pre[field_name] != meta.get(field_name):
                return (f"Precondition failed: {field_name.upper() if field_name == 'uid' else 'ResourceVersion'} "
                        f"in precondition: {pre[field_name]}, in object meta: {meta.get(field_name)}")
        return None

    def _stored(self, applied: dict[str, Any], old: dict[str, Any] | None) -> dict[str, Any]:
        obj = copy.deepcopy(applied)
        meta = obj.setdefault("metadata", {})
        spec = obj.get("spec")
        if obj.get("kind") == "Deployment":
            spec.setdefault("replicas", (old or {}).get("spec", {}).get("replicas", 1))
        if old is None:
            meta.update(uid=str(uuid.uuid4()), creationTimestamp=_now(), generation=1, resourceVersion="1")
            return obj
        oldmeta = old["metadata"]
        changed = json.dumps(spec, sort_keys=True) != json.dumps(old.get("spec"), sort_keys=True)
        server = ("uid", "creationTimestamp", "generation", "resourceVersion")
        same = not changed and _dumps({k: v for k, v in meta.items() if k not in server}) == _dumps(
            {k: v for k, v in oldmeta.items() if k not in server})
        meta.update(uid=oldmeta["uid"], creationTimestamp=oldmeta["creationTimestamp"],
                    generation=oldmeta["generation"] + (1 if changed else 0),
                    resourceVersion=oldmeta["resourceVersion"] if same else str(int(oldmeta["resourceVersion"]) + 1))
        if "status" in old:
            obj["status"] = old["status"]
        return obj

    def _reconcile_predictor(self, isvc: dict[str, Any]) -> None:
        """KServe's raw-mode reconciler: the predictor Deployment and Service, owned by the InferenceService.

        As kserve ``pkg/controller/v1beta1/inferenceservice/components/predictor.go`` (v0.13.0-v0.20.0)
        does, the predictor's containers become the pod template of Deployment ``<name>-predictor``; the
        Deployment's generation moves only when that template changes (not, e.g., for minReplicas, which
        goes to the HPA), so it drifts apart from the InferenceService's generation.
        """
        meta = isvc["metadata"]
        name, namespace = f"{meta['name']}-predictor", meta["namespace"]
        owner = [{"apiVersion": isvc["apiVersion"], "kind": "InferenceService", "name": meta["name"],
                  "uid": meta["uid"], "controller": True}]
        pred = isvc["spec"]["predictor"]
        labels = {"serving.kserve.io/inferenceservice": meta["name"], "app": f"isvc.{name}"}
        pod_spec = {k: v for k, v in pred.items() if k not in KSERVE_EXTENSION}
        dep = {"apiVersion": "apps/v1", "kind": "Deployment",
               "metadata": {"name": name, "namespace": namespace, "ownerReferences": owner},
               "spec": {"selector": {"matchLabels": {"app": f"isvc.{name}"}},
                        "template": {"metadata": {"labels": labels}, "spec": pod_spec}}}
        key = ("deployments", namespace, name)
        self.objects[key] = self._stored(dep, self.objects.get(key))
        svc = {"apiVersion": "v1", "kind": "Service",
               "metadata": {"name": name, "namespace": namespace, "ownerReferences": owner}, "spec": {}}
        self.objects.setdefault(("services", namespace, name), self._stored(svc, None))

    def _observed(self, plural: str, obj: dict[str, Any]) -> dict[str, Any]:
        """The object with the status a controller would have written by now."""
        out = copy.deepcopy(obj)
        gen = out["metadata"]["generation"]
        reason = self.failure(out)
        if plural == "deployments":
            want = int(out["spec"].get("replicas", 1))
            if reason:
                older = gen > 1
                available = want if older else 0
                out["status"] = {"observedGeneration": gen, "replicas": want + (1 if older else 0),
                                 "updatedReplicas": 1, "availableReplicas": available,
                                 "unavailableReplicas": 1,
                                 "conditions": [{"type": "Progressing", "status": "True",
                                                 "reason": "ReplicaSetUpdated"}, _available(available, want)]}
            else:
                out["status"] = {"observedGeneration": gen, "replicas": want, "updatedReplicas": want,
                                 "readyReplicas": want, "availableReplicas": want,
                                 "conditions": [_available(want, want)]}
        elif plural == "inferenceservices":
            # kserve pkg/apis/serving/v1beta1/inference_service_status.go PropagateRawStatus (v0.13.0 to
            # v0.20.0, kserve/kserve#6081): observedGeneration is the predictor DEPLOYMENT's, and Ready
            # follows the Deployment's Available condition, True while old pods serve a rolling update.
            meta = out["metadata"]
            dep = self.objects.get(("deployments", meta["namespace"], f"{meta['name']}-predictor"))
            status = self._observed("deployments", dep)["status"] if dep else {}
            available = next((c for c in status.get("conditions", []) if c["type"] == "Available"), None)
            ready = {"type": "Ready", "status": available["status"] if available else "Unknown"}
            if ready["status"] != "True":
                ready.update(reason="PredictorNotReady", message=f"predictor pods: {reason}")
            out["status"] = {"observedGeneration": status.get("observedGeneration", 0), "conditions": [ready]}
        return out

    def _workloads(self, namespace: str) -> list[dict[str, Any]]:
        """Deployments and InferenceServices; a predictor Deployment's pods are its InferenceService's."""
        return [o for (p, ns, _), o in self.objects.items()
                if ns == namespace and p in ("deployments", "inferenceservices") and not _owner_uid(o)]

    def _list(self, plural: str, namespace: str, query: dict[str, str]) -> list[dict[str, Any]]:
        if plural == "pods":
            pods = []
            for wl in self._workloads(namespace):
                pods.extend(self._pods(wl))
            return [p for p in pods if _matches(p["metadata"]["labels"], query.get("labelSelector", ""))]
        if plural == "events":
            events = []
            for wl in self._workloads(namespace):
                for pod in self._pods(wl):
                    container = pod["status"]["containerStatuses"][0]
                    waiting = container["state"].get("waiting", {})
                    reason = waiting.get("reason") or ("" if container["ready"] else "unready")
                    if reason:
                        events.append(_event(pod["metadata"]["name"], reason, waiting.get("message", "")))
            return events
        return []

    def _pods(self, wl: dict[str, Any]) -> list[dict[str, Any]]:
        """One pod of the current template, in the state ``failure`` asks for."""
        name = wl["metadata"]["name"]
        if wl["kind"] == "Deployment":
            template = wl["spec"]["template"]
            labels = dict(template["metadata"]["labels"])
            annotations = dict(template["metadata"].get("annotations") or {})
            image = template["spec"]["containers"][0]["image"]
        else:
            pred = wl["spec"]["predictor"]
            labels = {"serving.kserve.io/inferenceservice": name}
            annotations = {}
            image = pred["containers"][0]["image"]
        digest = hashlib.sha256(json.dumps(wl["spec"], sort_keys=True).encode()).hexdigest()[:8]
        reason = self.failure(wl)
        state: dict[str, Any] = {"running": {"startedAt": _now()}}
        ready = reason is None
        if reason == "ImagePullBackOff":
            state = {"waiting": {"reason": "ImagePullBackOff", "message": f'Back-off pulling image "{image}"'}}
        elif reason == "CrashLoopBackOff":
            state = {"waiting": {"reason": "CrashLoopBackOff", "message": "back-off 40s restarting failed container"}}
        last = {"terminated": {"exitCode": 2, "reason": "Error", "message": self.last_words[-2048:]}} \
            if reason == "CrashLoopBackOff" else {}
        return [{
            "metadata": {"name": f"{name}-{digest}-x7k2p", "labels": labels, "annotations": annotations},
            "status": {"phase": "Running" if reason != "ImagePullBackOff" else "Pending",
                       "containerStatuses": [{"name": "server", "image": image, "ready": ready,
                                              "restartCount": 3 if reason == "CrashLoopBackOff" else 0,
                                              "state": state, "lastState": last}]},
        }]

    def _proxy(self, h: BaseHTTPRequestHandler, ns: str, svc: str, rest: str, query: str, raw: bytes,
               ctype: str) -> None:
        if ("services", ns, svc) not in self.objects:
            return self._send(h, 404, _status(404, "NotFound", f'services "{svc}" not found'))
        if not self.proxy_to:
            return self._send(h, 503, _status(503, "ServiceUnavailable", f'no endpoints available for service "{svc}"'))
        req = urllib.request.Request(f"{self.proxy_to}/{rest}{'?' + query if query else ''}", data=raw,
                                     method=h.command, headers={"Content-Type": ctype})
        try:
            with urllib.request.urlopen(req, timeout=30) as resp:
                status, rtype, data = resp.status, resp.headers.get("Content-Type", ""), resp.read()
        except urllib.error.HTTPError as exc:
            status, rtype, data = exc.code, exc.headers.get("Content-Type", ""), exc.read()
        self._send_raw(h, status, rtype, data)

    # -- RBAC --------------------------------------------------------------------------------------
    def _allowed(self, verb: str, group: str, resource: str, name: str | None) -> bool:
        self.authorized.append((verb, group, resource, name))
        if self.role_rules is None:
            return True
        for rule in self.role_rules:
            if (group in rule.get("apiGroups", []) and resource in rule.get("resources", [])
                    and verb in rule.get("verbs", [])
                    and (not rule.get("resourceNames") or (name is not None and name in rule["resourceNames"]))):
                return True
        return False

    def _forbid(self, h: BaseHTTPRequestHandler, verb: str, group: str, resource: str, name: str | None,
                ns: str) -> None:
        qualified = f"{resource}.{group}" if group else resource
        msg = (f'{qualified} "{name or ""}" is forbidden: User "system:serviceaccount:kubeflow:pipeline-runner" '
               f'cannot {verb} resource "{resource}" in API group "{group}" in the namespace "{ns}"')
        self._send(h, 403, _status(403, "Forbidden", msg))

    # -- wire --------------------------------------------------------------------------------------
    def _send(self, h: BaseHTTPRequestHandler, code: int, data: dict[str, Any]) -> None:
        self._send_raw(h, code, "application/json", json.dumps(data).encode())

    @staticmethod
    def _send_raw(h: BaseHTTPRequestHandler, code: int, ctype: str, data: bytes) -> None:
        h.send_response(code)
        h.send_header("Content-Type", ctype)
        h.send_header("Content-Length", str(len(data)))
        h.end_headers()
        h.wfile.write(data)


def _status(code: int, reason: str, message: str, status: str = "Failure") -> dict[str, Any]:
    return {"kind": "Status", "apiVersion": "v1", "status": status, "message": message, "reason": reason, "code": code}


def _event(pod: str, reason: str, message: str) -> dict[str, Any]:
    text = {"unready": ("Unhealthy", "Readiness probe failed: HTTP probe failed with statuscode: 503"),
            "ImagePullBackOff": ("Failed", f"Failed to pull image: {message}"),
            "CrashLoopBackOff": ("BackOff", "Back-off restarting failed container server")}[reason]
    return {"type": "Warning", "reason": text[0], "message": text[1], "lastTimestamp": _now(),
            "involvedObject": {"kind": "Pod", "name": pod}}


def isvc_schema_error(obj: dict[str, Any]) -> str | None:
    """Why KServe's InferenceService schema refuses ``obj`` (None: it does not)."""
    import jsonschema

    schema = json.loads((Path(__file__).resolve().parents[1] / "manifests" / "kserve" /
                         "inferenceservice.schema.json").read_text())
    try:
        jsonschema.validate(obj, schema)
    except jsonschema.ValidationError as exc:
        return f"{'.'.join(str(p) for p in exc.absolute_path)}: {exc.message}"
    return None


def _available(available: int, want: int) -> dict[str, Any]:
    """A Deployment's Available condition: True at minimum availability, want - maxUnavailable (25%)."""
    ok = available >= want - want // 4 and available > 0
    return {"type": "Available", "status": "True" if ok else "False",
            "reason": "MinimumReplicasAvailable" if ok else "MinimumReplicasUnavailable"}


def _owner_uid(obj: dict[str, Any]) -> str | None:
    refs = obj.get("metadata", {}).get("ownerReferences") or []
    return refs[0]["uid"] if refs else None


def _matches(labels: dict[str, str], selector: str) -> bool:
    pairs = [p.split("=", 1) for p in selector.split(",") if p]
    return all(labels.get(k) == v for k, v in pairs)


def _dumps(data: Any) -> str:
    return json.dumps(data, sort_keys=True)


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


class RecordingRegistry:
    """In-memory STAND-IN for ``personseg.storage.registry.Registry``: keeps stages, records calls.

    Every version's card carries ``smoke`` (the card field publish writes, e.g. ``card_entry`` of the
    tiny model); ``smoke=None`` gives cards like those published before the field existed.
    """

    def __init__(self, versions: dict[str, int], stages: dict[tuple[str, str], int] | None = None,
                 smoke: dict[str, Any] | None = None) -> None:
        self.versions = versions
        self.stages = dict(stages or {})
        self.smoke = smoke
        self.calls: list[tuple] = []

    def card(self, name: str, version: int) -> dict[str, Any]:
        card: dict[str, Any] = {"format": 1, "name": name, "version": version}
        return card if self.smoke is None else {**card, "smoke": self.smoke}

    def resolve(self, ref: str) -> tuple[str, int]:
        body = ref.removeprefix("models:/")
        if "@" in body:
            name, stage = body.split("@", 1)
            version = self.stages.get((name, stage))
            if version is None:
                raise UserError(f"{ref}: no version has stage {stage}")
            return name, version
        name, _, version = body.partition(":")
        if name not in self.versions or not version.isdigit() or int(version) > self.versions[name]:
            raise UserError(f"{ref}: unknown model version")
        return name, int(version)

    def promote(self, name: str, version: int, stage: str = "production") -> None:
        self.calls.append(("promote", name, version, stage))
        self.stages[(name, stage)] = version

    def stage(self, name: str, stage: str) -> int | None:
        return self.stages.get((name, stage))

    def mark(self, name: str, version: int, status: str, detail: str = "") -> None:
        self.calls.append(("mark", name, version, status, detail))

    def location(self, name: str, version: int) -> str:
        return f"s3://models/{name}/{version}/"


def tiny_onnx_model(directory: Path, corrupt: bool = False, bias: float = -0.5, batch: int | str = "N") -> Path:
    """A runnable saved model: one 3->1 Conv, image size 64 (or corrupt bytes).

    On the smoke probe the default marks most pixels (bright ones) as person; ``bias=-10`` makes every
    logit negative, so every mask is blank. ``batch=1`` fixes the batch dimension: it runs one image
    (the offline probe) but the server's warm-up with a full batch fails, so the server exits.
    """
    import numpy as np
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    from personseg.modeldir import write_config

    directory.mkdir(parents=True, exist_ok=True)
    if corrupt:
        (directory / "model.onnx").write_bytes(b"this is not an onnx model\x00" * 8)
    else:
        weight = numpy_helper.from_array(np.full((1, 3, 3, 3), 0.05, dtype=np.float32), "w")
        offset = numpy_helper.from_array(np.array([bias], dtype=np.float32), "b")
        node = helper.make_node("Conv", ["input", "w", "b"], ["logits"], pads=[1, 1, 1, 1])
        graph = helper.make_graph(
            [node], "tiny",
            [helper.make_tensor_value_info("input", TensorProto.FLOAT, [batch, 3, 64, 64])],
            [helper.make_tensor_value_info("logits", TensorProto.FLOAT, [batch, 1, 64, 64])],
            initializer=[weight, offset],
        )
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
        model.ir_version = 8
        onnx.checker.check_model(model)
        onnx.save(model, directory / "model.onnx")
    write_config(directory, kind="onnx", precision="fp32", weights="model.onnx", image_size=64, arch={"name": "tiny"})
    return directory


@dataclass
class ModelServer:
    """A real ``python -m personseg serve`` process on a free 127.0.0.1 port."""

    proc: Any
    url: str

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=15)
        except Exception:  # noqa: BLE001 - make sure a hung server never outlives the test
            self.proc.kill()
            self.proc.wait()


def start_model_server(model_dir: Path, log_path: Path, timeout: float = 30.0) -> ModelServer:
    """Start the real model server on ``model_dir`` and wait until it reports ready."""
    import subprocess
    import sys

    from personseg.netutil import free_port

    port = free_port()
    with open(log_path, "wb") as log:
        proc = subprocess.Popen([sys.executable, "-m", "personseg", "serve", "--model", str(model_dir),
                                 "--host", "127.0.0.1", "--port", str(port)], stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if proc.poll() is not None:
            raise RuntimeError(f"model server exited: {log_path.read_text()[-2000:]}")
        try:
            with urllib.request.urlopen(f"{url}/v2/health/ready", timeout=1) as resp:
                if resp.status == 200:
                    return ModelServer(proc, url)
        except (urllib.error.URLError, OSError):
            time.sleep(0.1)
    proc.kill()
    raise RuntimeError(f"model server not ready in {timeout}s: {log_path.read_text()[-2000:]}")


def role_rules() -> list[dict[str, Any]]:
    """The rules of manifests/rbac/role.yaml, for the stand-in to enforce."""
    root = Path(__file__).resolve().parents[1]
    return yaml.safe_load((root / "manifests" / "rbac" / "role.yaml").read_text())["rules"]
