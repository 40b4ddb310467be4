"""A STAND-IN for the Kubernetes API that takes TrainJobs, and a STAND-IN Kubeflow Trainer controller.

``FakeTrainerApi`` extends the deploy tests' ``FakeKubeApi`` (tests/deploy_fixtures.py) with what the
TrainJob path calls: POST/GET/DELETE of ``trainjobs.trainer.kubeflow.org``, listing pods by label and
a pod's log, followed (``follow=true``, chunked, as the real API server streams it). A created
TrainJob is checked against Kubeflow Trainer's own schema (the ``kubeflow_trainer_api`` models: a
field the model does not know, or a wrong type, is refused), the CRD's CEL name rules and the torch
plugin's webhook rule that reserves the ``PET_*`` variables.

``TrainerController`` plays Trainer + JobSet + kubelet for one job at a time: it makes one pod per
node (JobSet's labels), resolves the trainer env (``secretKeyRef`` from a Secret stored in the
stand-in), sets ``PET_NNODES``/``PET_NPROC_PER_NODE``/``PET_NODE_RANK``/``PET_MASTER_ADDR``/
``PET_MASTER_PORT`` as Trainer's torch plugin does, runs the job's command for every node as a real
local process (so torchrun and the gloo ranks are real, on 127.0.0.1), writes each node's output
where the log endpoint reads it, and sets the job's status: ``Complete``, or ``Failed`` as soon as a
node exits non-zero (the other nodes are killed, as JobSet's failure policy does). A deleted job's
processes are killed, as garbage collection would delete its pods.

What the real Trainer and cluster do that these do not: JobSet and Job objects, a headless Service
and DNS (``PET_MASTER_ADDR`` is ``<job>-node-0-0.<job>`` there, 127.0.0.1 here, and the port a free
one instead of 29500), scheduling onto separate machines with the requested CPU, memory and GPUs
(none of it is enforced here), image pulls (the processes run this checkout, not the image), restarts
and ``maxRestarts``, the ``Created``/``Suspended`` conditions, ``activeDeadlineSeconds``, defaulting
by the ClusterTrainingRuntime (the stand-in only checks that it exists, as Trainer's webhook does),
admission beyond the rules named above, and warnings for pruned fields. The CRD's fields follow the
Trainer release the stand-in plays (``trainer_version``): a field that release lacks is dropped, or
refused under ``fieldValidation=Strict``, as the API server does.
"""

from __future__ import annotations

import base64
import copy
import json
import os
import re
import secrets
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from deploy_fixtures import FakeKubeApi, Recorded, _matches, _now, _status

from personseg.netutil import free_port

ROOT = Path(__file__).resolve().parents[1]
TRAINER_GROUP = "trainer.kubeflow.org"
# The CRD's CEL rules on the name (kubeflow/trainer manifests/base/crds/trainer.kubeflow.org_trainjobs.yaml).
NAME_RULE = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")
RESERVED = ("PET_NNODES", "PET_NPROC_PER_NODE", "PET_NODE_RANK", "PET_MASTER_ADDR", "PET_MASTER_PORT")
# The TrainJobSpec fields of each Trainer release (kubeflow/trainer pkg/apis/trainer/v1alpha1/
# trainjob_types.go at the tag): podSpecOverrides (v2.0) became podTemplateOverrides (v2.1), which
# became runtimePatches (v2.2). The schema models (kubeflow_trainer_api 2.3.0) know v2.2+ only.
SPEC_FIELDS = {
    "v2.0.0": ("runtimeRef", "initializer", "trainer", "labels", "annotations", "podSpecOverrides", "suspend",
               "managedBy"),
    "v2.1.0": ("runtimeRef", "initializer", "trainer", "labels", "annotations", "podTemplateOverrides", "suspend",
               "managedBy"),
    "v2.2.0": ("runtimeRef", "initializer", "trainer", "runtimePatches", "suspend", "activeDeadlineSeconds",
               "managedBy"),
    "v2.3.0": ("runtimeRef", "initializer", "trainer", "runtimePatches", "suspend", "activeDeadlineSeconds",
               "managedBy"),
}


def _template_override_errors(overrides: Any) -> list[str]:
    """Trainer v2.1's PodTemplateOverride (targetJobs required, metadata labels/annotations), by hand."""
    errors = []
    for i, item in enumerate(overrides if isinstance(overrides, list) else [None]):
        where = f"spec.podTemplateOverrides[{i}]"
        if not isinstance(item, dict) or set(item) - {"targetJobs", "metadata", "spec"}:
            errors.append(f"{where}: not a PodTemplateOverride")
            continue
        if not item.get("targetJobs") or any(not (t or {}).get("name") for t in item["targetJobs"]):
            errors.append(f"{where}.targetJobs: Required value")
        meta = item.get("metadata") or {}
        for key in ("labels", "annotations"):
            if not all(isinstance(v, str) for v in (meta.get(key) or {}).values()):
                errors.append(f"{where}.metadata.{key}: values must be strings")
    return errors


def schema_errors(obj: dict[str, Any]) -> list[str]:
    """Why Trainer's schema (``kubeflow_trainer_api``), its CEL name rules or its webhook would refuse ``obj``.

    A v2.1 ``podTemplateOverrides`` (which the v2.3 models no longer know) is checked by hand.
    """
    from kubeflow_trainer_api.models import TrainerV1alpha1TrainJob
    from pydantic import ValidationError

    overrides = (obj.get("spec") or {}).get("podTemplateOverrides")
    if overrides is not None:
        obj = copy.deepcopy(obj)
        del obj["spec"]["podTemplateOverrides"]
        errors = _template_override_errors(overrides)
        return errors + schema_errors(obj)
    try:
        model = TrainerV1alpha1TrainJob.from_dict(obj)
    except ValidationError as exc:
        return [f"schema: {e['loc']}: {e['msg']}" for e in exc.errors()]
    errors = []
    if model.to_dict() != obj:  # the models read known fields only: anything they drop is unknown to Trainer
        errors.append(f"fields unknown to the TrainJob schema or not in its form: {_diff(obj, model.to_dict())}")
    name = (obj.get("metadata") or {}).get("name", "")
    if not NAME_RULE.match(name) or len(name) > 63:
        errors.append(f"metadata.name {name!r} must be an RFC 1035 DNS label of at most 63 characters")
    trainer = (obj.get("spec") or {}).get("trainer") or {}
    reserved = sorted({e["name"] for e in trainer.get("env") or []} & set(RESERVED))
    if reserved:
        errors.append(f"spec.trainer.env: must not have reserved envs, invalid envs configured: {reserved}")
    if trainer.get("numProcPerNode", 1) < 1:
        errors.append("spec.trainer.numProcPerNode: numProcPerNode must be greater than or equal to 1")
    return errors


def _diff(a: Any, b: Any, path: str = "") -> list[str]:
    if isinstance(a, dict) and isinstance(b, dict):
        out = []
        for k in sorted(set(a) | set(b)):
            out += _diff(a.get(k), b.get(k), f"{path}.{k}")
        return out
    if isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        return [d for i, (x, y) in enumerate(zip(a, b)) for d in _diff(x, y, f"{path}[{i}]")]
    return [] if a == b else [path or "."]


def node_pod_labels(job: dict[str, Any]) -> dict[str, str]:
    """The labels the TrainJob asks for on its ``node`` pods, merged as Trainer merges them into the runtime.

    v2.2+: ``runtimePatches[].trainingRuntimeSpec.template.spec.replicatedJobs[name=node].template.spec
    .template.metadata.labels``; v2.1: ``podTemplateOverrides[targetJobs has node].metadata.labels``.
    """
    spec = job.get("spec") or {}
    labels: dict[str, str] = {}
    for patch in spec.get("runtimePatches") or []:
        jobs = (((patch.get("trainingRuntimeSpec") or {}).get("template") or {}).get("spec") or {}).get(
            "replicatedJobs") or []
        for rj in jobs:
            if rj.get("name") == "node":
                pod = (((rj.get("template") or {}).get("spec") or {}).get("template") or {})
                labels.update((pod.get("metadata") or {}).get("labels") or {})
    for override in spec.get("podTemplateOverrides") or []:
        if any(t.get("name") == "node" for t in override.get("targetJobs") or []):
            labels.update((override.get("metadata") or {}).get("labels") or {})
    return labels


@dataclass
class FakeTrainerApi(FakeKubeApi):
    """STAND-IN Kubernetes API with TrainJobs and pod logs (see the module docstring). Not a real API server."""

    on_create: Any = None  # called with (namespace, stored TrainJob) after a create
    trainer_version: str = "v2.3.0"  # whose TrainJobSpec fields the CRD has (SPEC_FIELDS)
    runtimes: tuple[str, ...] = ("torch-distributed",)  # the ClusterTrainingRuntimes installed
    logs: dict[tuple[str, str], Path] = field(default_factory=dict)

    def put_secret(self, namespace: str, name: str, data: dict[str, str]) -> None:
        """Store a Secret as ``kubectl create secret generic`` would (values base64-encoded)."""
        encoded = {k: base64.b64encode(v.encode()).decode() for k, v in data.items()}
        self.put("secrets", {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": name, "namespace": namespace},
                             "data": encoded})

    def secret_value(self, namespace: str, name: str, key: str) -> str | None:
        obj = self.get("secrets", namespace, name)
        raw = (obj or {}).get("data", {}).get(key)
        return base64.b64decode(raw).decode() if raw is not None else None

    def set_status(self, namespace: str, name: str, status: dict[str, Any]) -> bool:
        """Write a TrainJob's status as the controller does; False when the job is gone."""
        with self._lock:
            obj = self.objects.get(("trainjobs", namespace, name))
            if obj is None:
                return False
            obj["status"] = copy.deepcopy(status)
            obj["metadata"]["resourceVersion"] = str(int(obj["metadata"]["resourceVersion"]) + 1)
            return True

    def put_pod(self, pod: dict[str, Any]) -> None:
        with self._lock:
            self.objects[("pods", pod["metadata"]["namespace"], pod["metadata"]["name"])] = copy.deepcopy(pod)

    def pod_phase(self, namespace: str, name: str) -> str | None:
        pod = self.get("pods", namespace, name)
        return pod["status"]["phase"] if pod else None

    # -- the API -----------------------------------------------------------------------------------
    def _dispatch(self, h: BaseHTTPRequestHandler) -> None:
        parts = urlsplit(h.path)
        segs = [s for s in parts.path.split("/") if s]
        if "namespaces" not in segs:
            return super()._dispatch(h)
        at = segs.index("namespaces")
        namespace, plural = segs[at + 1], segs[at + 2]
        name = segs[at + 3] if len(segs) > at + 3 else None
        sub = segs[at + 4] if len(segs) > at + 4 else None
        if plural not in ("trainjobs", "pods"):
            return super()._dispatch(h)
        query = dict(parse_qsl(parts.query))
        length = int(h.headers.get("Content-Length") or 0)
        raw = h.rfile.read(length) if length else b""
        body = json.loads(raw) if raw else None
        self.requests.append(Recorded(h.command, parts.path, query, h.headers.get("Content-Type", ""), body))
        if plural == "pods":
            return self._pods_route(h, namespace, name, sub, query)
        verb = {"POST": "create", "GET": "get" if name else "list", "DELETE": "delete"}.get(h.command, "?")
        if not self._allowed(verb, TRAINER_GROUP, "trainjobs", name):
            return self._forbid(h, verb, TRAINER_GROUP, "trainjobs", name, namespace)
        if h.command == "POST" and name is None:
            return self._create(h, namespace, body, query)
        key = ("trainjobs", namespace, name or "")
        if h.command == "GET" and name:
            obj = self.get("trainjobs", namespace, name)
            if obj is None:
                return self._send(h, 404, _status(404, "NotFound", f'trainjobs.{TRAINER_GROUP} "{name}" not found'))
            return self._send(h, 200, obj)
        if h.command == "DELETE" and name:
            with self._lock:
                gone = self.objects.pop(key, None)
            if gone is None:
                return self._send(h, 404, _status(404, "NotFound", f'trainjobs.{TRAINER_GROUP} "{name}" not found'))
            return self._send(h, 200, _status(200, "", "deleted", "Success"))
        return self._send(h, 405, _status(405, "MethodNotAllowed", h.command))

    def _create(self, h: BaseHTTPRequestHandler, namespace: str, body: Any, query: dict[str, str]) -> None:
        if not isinstance(body, dict):
            return self._send(h, 400, _status(400, "BadRequest", "body is not an object"))
        # Fields this Trainer's CRD lacks: the API server prunes them, or with fieldValidation=Strict refuses
        # the request (Kubernetes field validation, GA in 1.27; apimachinery's strict decoding error).
        unknown = [k for k in (body.get("spec") or {}) if k not in SPEC_FIELDS[self.trainer_version]]
        if unknown and query.get("fieldValidation") == "Strict":
            msg = ", ".join(f'unknown field "spec.{k}"' for k in unknown)
            return self._send(h, 400, _status(400, "BadRequest", f"strict decoding error: {msg}"))
        body = copy.deepcopy(body)
        for k in unknown:
            del body["spec"][k]
        errors = schema_errors(body)
        meta = body.get("metadata") or {}
        if meta.get("namespace", namespace) != namespace:
            errors.append(f"metadata.namespace {meta.get('namespace')!r} does not match the request's {namespace!r}")
        if errors:
            msg = f'TrainJob.{TRAINER_GROUP} "{meta.get("name", "")}" is invalid: ' + "; ".join(errors)
            return self._send(h, 422, _status(422, "Invalid", msg))
        runtime = ((body.get("spec") or {}).get("runtimeRef") or {}).get("name", "")
        if runtime not in self.runtimes:
            # Trainer's validating webhook (pkg/runtime/core/clustertrainingruntime.go ValidateObjects,
            # v2.0.0-v2.3.0) looks the runtime up; controller-runtime answers a denial with 403.
            msg = (f'admission webhook "validate.trainjob.trainer.kubeflow.org" denied the request: '
                   f'spec.RuntimeRef: Invalid value: clustertrainingruntimes.trainer.kubeflow.org "{runtime}" '
                   "not found: specified clusterTrainingRuntime must be created before the TrainJob is created")
            return self._send(h, 403, _status(403, "Forbidden", msg))
        key = ("trainjobs", namespace, meta["name"])
        with self._lock:
            if key in self.objects:
                return self._send(h, 409, _status(409, "AlreadyExists",
                                                  f'trainjobs.{TRAINER_GROUP} "{meta["name"]}" already exists'))
            self.objects[key] = self._stored(body, None)
            stored = copy.deepcopy(self.objects[key])
        if self.on_create is not None:
            self.on_create(namespace, stored)
        return self._send(h, 201, stored)

    def _pods_route(self, h: BaseHTTPRequestHandler, namespace: str, name: str | None, sub: str | None,
                    query: dict[str, str]) -> None:
        if name is None and h.command == "GET":
            if not self._allowed("list", "", "pods", None):
                return self._forbid(h, "list", "", "pods", None, namespace)
            with self._lock:
                pods = [copy.deepcopy(o) for (p, ns, _), o in self.objects.items() if p == "pods" and ns == namespace]
            items = [p for p in pods if _matches(p["metadata"]["labels"], query.get("labelSelector", ""))]
            return self._send(h, 200, {"kind": "PodList", "apiVersion": "v1", "metadata": {}, "items": items})
        if sub == "log" and h.command == "GET":
            if not self._allowed("get", "", "pods/log", name):
                return self._forbid(h, "get", "", "pods/log", name, namespace)
            return self._log(h, namespace, name, query)
        return self._send(h, 405, _status(405, "MethodNotAllowed", f"{h.command} pods/{sub or ''}"))

    def _log(self, h: BaseHTTPRequestHandler, namespace: str, pod: str, query: dict[str, str]) -> None:
        path = self.logs.get((namespace, pod))
        if path is None:
            return self._send(h, 404, _status(404, "NotFound", f'pods "{pod}" not found'))
        if query.get("follow", "").lower() not in ("true", "1"):  # Go's ParseBool: the client sends "True"
            return self._send_raw(h, 200, "text/plain", path.read_bytes())
        h.protocol_version = "HTTP/1.1"  # chunked, as the API server streams a followed log
        h.send_response(200)
        h.send_header("Content-Type", "text/plain")
        h.send_header("Transfer-Encoding", "chunked")
        h.end_headers()
        offset = 0
        try:
            while True:
                finished = self.pod_phase(namespace, pod) in ("Succeeded", "Failed", None)
                data = path.read_bytes()[offset:]
                if data:
                    h.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
                    h.wfile.flush()
                    offset += len(data)
                elif finished:
                    break
                else:
                    time.sleep(0.05)
            h.wfile.write(b"0\r\n\r\n")
        except (BrokenPipeError, ConnectionResetError):
            pass
        h.close_connection = True


@dataclass
class NodeRun:
    """One node's pod: its process and log."""

    index: int
    pod: str
    proc: subprocess.Popen
    log: Path


class TrainerController:
    """STAND-IN for Kubeflow Trainer's controller with JobSet and the kubelet (see the module docstring)."""

    def __init__(self, api: FakeTrainerApi, workdir: Path, master_addr: str = "127.0.0.1",
                 node_env: dict[int, dict[str, str]] | None = None) -> None:
        """``node_env``: extra variables for one node's container, a fault seam of the tests (a broken node)."""
        self.api = api
        self.node_env = node_env or {}
        self.workdir = workdir
        self.master_addr = master_addr
        self.runs: dict[str, list[NodeRun]] = {}
        self.envs: dict[str, list[dict[str, str]]] = {}
        self.threads: list[threading.Thread] = []
        self.pod_labels: dict[str, dict[str, str]] = {}
        api.on_create = self.start

    def start(self, namespace: str, job: dict[str, Any]) -> None:
        self.pod_labels[job["metadata"]["name"]] = node_pod_labels(job)
        thread = threading.Thread(target=self._run, args=(namespace, job), daemon=True)
        self.threads.append(thread)
        thread.start()

    def join(self, timeout: float = 60.0) -> None:
        for thread in self.threads:
            thread.join(timeout)

    def stop(self) -> None:
        """Kill whatever still runs (a test that failed half-way must not leave ranks behind)."""
        for runs in self.runs.values():
            self._kill(runs)
        self.join(30)

    def _env(self, namespace: str, trainer: dict[str, Any]) -> dict[str, str]:
        out = {}
        for var in trainer.get("env") or []:
            if "value" in var:
                out[var["name"]] = var["value"]
            else:
                ref = var["valueFrom"]["secretKeyRef"]
                value = self.api.secret_value(namespace, ref["name"], ref["key"])
                if value is None:  # the kubelet would leave the pod in CreateContainerConfigError
                    raise RuntimeError(f"secret {ref['name']}/{ref['key']} missing in {namespace}")
                out[var["name"]] = value
        return out

    def _pod(self, namespace: str, job: str, index: int, phase: str, terminated: dict | None = None) -> dict:
        name = f"{job}-node-0-{index}-{secrets.token_hex(3)[:5]}"
        # JobSet's labels; the Job controller's completion-index label exists from Kubernetes 1.28
        # (kubernetes pkg/controller/job/indexed_job_utils.go, the PodIndexLabel feature, beta on in 1.28).
        return {"apiVersion": "v1", "kind": "Pod",
                "metadata": {"name": name, "namespace": namespace, "creationTimestamp": _now(),
                             "labels": {**self.pod_labels.get(job, {}), "jobset.sigs.k8s.io/jobset-name": job,
                                        "jobset.sigs.k8s.io/replicatedjob-name": "node",
                                        "batch.kubernetes.io/job-completion-index": str(index)}},
                "status": {"phase": phase}}

    def _run(self, namespace: str, job: dict[str, Any]) -> None:
        name = job["metadata"]["name"]
        trainer = job["spec"]["trainer"]
        nodes = int(trainer.get("numNodes", 1))
        env = self._env(namespace, trainer)
        port = free_port()
        venv_bin = str(Path(sys.executable).parent)
        runs, envs = [], []
        for i in range(nodes):
            pod = self._pod(namespace, name, i, "Running")
            pod_name = pod["metadata"]["name"]
            node_dir = self.workdir / name / f"node-{i}"
            node_dir.mkdir(parents=True)
            node_env = {
                "PATH": f"{venv_bin}:{os.environ.get('PATH', '/usr/bin:/bin')}",  # the image's PATH has the venv
                "PYTHONPATH": str(ROOT),  # the image has this checkout installed
                "HOME": str(node_dir), "PERSONSEG_CACHE": str(node_dir / "cache"),
                **env,
                "PET_NNODES": str(nodes), "PET_NPROC_PER_NODE": str(trainer.get("numProcPerNode", 1)),
                "PET_NODE_RANK": str(i), "PET_MASTER_ADDR": self.master_addr, "PET_MASTER_PORT": str(port),
                **self.node_env.get(i, {}),
            }
            log = node_dir / "pod.log"
            self.api.logs[(namespace, pod_name)] = log
            with open(log, "wb") as out:
                proc = subprocess.Popen([*trainer["command"], *trainer.get("args", [])], env=node_env, cwd=node_dir,
                                        stdout=out, stderr=subprocess.STDOUT)
            self.api.put_pod(pod)
            runs.append(NodeRun(i, pod_name, proc, log))
            envs.append(node_env)
        self.runs[name], self.envs[name] = runs, envs
        self._supervise(namespace, name, runs)

    def _supervise(self, namespace: str, name: str, runs: list[NodeRun]) -> None:
        while True:
            if self.api.get("trainjobs", namespace, name) is None:  # deleted: GC deletes the pods
                self._kill(runs)
                for run in runs:
                    self.api.objects.pop(("pods", namespace, run.pod), None)
                return
            codes = [run.proc.poll() for run in runs]
            failed = [run for run, code in zip(runs, codes) if code not in (None, 0)]
            if failed or all(code == 0 for code in codes):
                break
            time.sleep(0.1)
        if failed:
            self._kill(runs)
        for run in runs:
            code = run.proc.wait()
            self._finish_pod(namespace, run, code)
        if failed:
            cond = {"type": "Failed", "status": "True", "reason": "FailedJobs",
                    "message": "jobset failed due to one or more job failures"}
        else:
            cond = {"type": "Complete", "status": "True", "reason": "AllJobsCompleted",
                    "message": "jobset completed successfully"}
        self.api.set_status(namespace, name, {"conditions": [{**cond, "lastTransitionTime": _now()}]})

    def _finish_pod(self, namespace: str, run: NodeRun, code: int) -> None:
        pod = self.api.get("pods", namespace, run.pod)
        if pod is None:
            return
        term = {"exitCode": code, "reason": "Completed" if code == 0 else "Error"}
        pod["status"] = {"phase": "Succeeded" if code == 0 else "Failed",
                         "containerStatuses": [{"name": "node", "ready": False, "restartCount": 0,
                                                "image": "personseg", "imageID": "",
                                                "state": {"terminated": term}}]}
        self.api.put_pod(pod)

    @staticmethod
    def _kill(runs: list[NodeRun]) -> None:
        for run in runs:
            if run.proc.poll() is None:
                run.proc.terminate()
        for run in runs:
            try:
                run.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                run.proc.kill()
                run.proc.wait()
