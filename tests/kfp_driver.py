"""A STAND-IN for the KFP v2 backend's driver: plays a submitted run's DAG and resolves each task's inputs.

The KFP API stand-in (tests/kfp_fixtures.py) calls ``play`` for every run it is sent, with the backend
version it reports, and keeps the result in ``StubKfp.plays``. Nothing executes: a container task
"succeeds" at once and its output parameters take made-up values (``outputs`` overrides them). What
is copied from kubeflow/pipelines, read at the release tags:
- order: a task starts after its ``dependentTasks`` only (backend/src/v2/compiler/argocompiler/dag.go,
  2.5.0: Argo ``depends`` is built from them); a task that reads the output of a task it does not
  depend on may start first, and here it fails the run.
- conditions: ``triggerPolicy.condition`` is a CEL expression over the task's own input parameters
  (backend/src/v2/driver/driver.go with backend/src/v2/expression/expression.go, 2.5.0); a false
  condition skips the task and everything inside it. Only the forms the kfp 2.17 compiler emits
  (``inputs.parameter_values[...]``, ``int()``, ``==``, ``!=``, ``!``, ``&&``, ``||``) are understood.
- parameter ``OneOf`` (``valueFromOneof``): the selector whose producer ran, in every release.
- artifact ``OneOf`` (several ``artifactSelectors`` on a DAG output): before 2.17.0 the LAST selector,
  whatever branch ran (backend/src/v2/driver/driver.go ``resolveUpstreamArtifacts`` in 2.4.0 and 2.5.0
  keeps the last in its loop; backend/src/v2/driver/resolve.go ``GetProducerTask`` in 2.14.0 to 2.16.1
  takes ``tempSelectors[len(tempSelectors)-1]``); from 2.17.0 the first whose producer completed
  (resolve.go ``GetProducerTask``, kubeflow/pipelines#13437). An artifact whose producer did not run
  fails the run, as the driver does when it cannot find the producer's output.

Not copied: caching, retries, MLMD, exit handlers, ``ParallelFor``, pod specs (resources, Secrets,
placeholders in resources), what a container really outputs.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from personseg_kfp.backend import parse_version

ONEOF_FIXED = (2, 17, 0)  # the first release resolving an artifact OneOf to the branch that ran
MADE_UP = {"STRING": "stand-in", "NUMBER_INTEGER": 1, "NUMBER_DOUBLE": 1.0, "BOOLEAN": True}


class DriverError(Exception):
    """What makes the backend's driver fail the run."""


@dataclass
class Played:
    """A played run: its final state, the container tasks it ran (``dag/task`` paths) and their inputs."""

    state: str = "SUCCEEDED"
    error: str = ""
    ran: list[str] = field(default_factory=list)
    artifact_inputs: dict[str, dict[str, str]] = field(default_factory=dict)
    parameter_inputs: dict[str, dict[str, Any]] = field(default_factory=dict)


@dataclass
class _Result:
    ran: bool
    params: dict[str, Any] = field(default_factory=dict)
    artifacts: dict[str, str] = field(default_factory=dict)
    children: dict[str, _Result] = field(default_factory=dict)
    component: dict = field(default_factory=dict)


def play(pipeline_spec: dict, parameters: dict[str, Any], tag: str | None,
         outputs: dict[str, dict[str, Any]] | None = None) -> Played:
    """Play ``pipeline_spec`` (the IR, or ``{"pipeline_spec": ..., "platform_spec": ...}``) as backend ``tag``."""
    spec = pipeline_spec.get("pipeline_spec", pipeline_spec)
    version = parse_version(tag)
    driver = _Driver(spec, version is None or version >= ONEOF_FIXED, outputs or {})
    defaults = {k: d.get("defaultValue") for k, d in spec["root"].get("inputDefinitions", {})
                .get("parameters", {}).items()}
    try:
        driver.dag(spec["root"], {**defaults, **parameters}, {}, "")
    except DriverError as exc:
        driver.played.state, driver.played.error = "FAILED", str(exc)
    return driver.played


class _Driver:
    def __init__(self, spec: dict, oneof_fixed: bool, outputs: dict[str, dict[str, Any]]) -> None:
        self.spec, self.oneof_fixed, self.outputs = spec, oneof_fixed, outputs
        self.played = Played()

    def dag(self, component: dict, params: dict[str, Any], artifacts: dict[str, str], path: str) -> dict[str, _Result]:
        tasks = component["dag"]["tasks"]
        done: dict[str, _Result] = {}
        while len(done) < len(tasks):
            ready = sorted(n for n, t in tasks.items()
                           if n not in done and set(t.get("dependentTasks", [])) <= set(done))
            if not ready:
                raise DriverError(f"{path or 'root'}: dependentTasks form a cycle")
            for name in ready:
                done[name] = self.task(name, tasks[name], params, artifacts, done, path, _ancestors(tasks, name))
        return done

    def task(self, name: str, task: dict, params: dict[str, Any], artifacts: dict[str, str],
             siblings: dict[str, _Result], path: str, depends_on: set[str]) -> _Result:
        where = f"{path}/{name}" if path else name
        inputs = task.get("inputs", {})
        mine = {k: self.parameter(where, s, params, siblings, depends_on)
                for k, s in inputs.get("parameters", {}).items()}
        condition = task.get("triggerPolicy", {}).get("condition")
        if condition and not _condition(condition, mine):
            return _Result(ran=False)
        arts = {k: self.artifact(where, k, s, artifacts, siblings, depends_on)
                for k, s in inputs.get("artifacts", {}).items()}
        component = self.spec["components"][task["componentRef"]["name"]]
        if "dag" in component:
            return _Result(True, children=self.dag(component, mine, arts, where), component=component)
        self.played.ran.append(where)
        self.played.artifact_inputs[where] = arts
        self.played.parameter_inputs[where] = mine
        outs = component.get("outputDefinitions", {})
        made = {k: self.outputs.get(name, {}).get(k, MADE_UP[d["parameterType"]])
                for k, d in outs.get("parameters", {}).items()}
        return _Result(True, params=made, artifacts={k: f"{where}/{k}" for k in outs.get("artifacts", {})},
                       component=component)

    def parameter(self, where: str, spec: dict, params: dict[str, Any], siblings: dict[str, _Result],
                  depends_on: set[str]) -> Any:
        if "componentInputParameter" in spec:
            return _from_parent(where, params, spec["componentInputParameter"], "parameter")
        if "runtimeValue" in spec:
            return spec["runtimeValue"]["constant"]
        ref = spec["taskOutputParameter"]
        producer = self.producer(where, ref["producerTask"], siblings, depends_on)
        return _dag_parameter(producer, ref["outputParameterKey"], where)

    def artifact(self, where: str, key: str, spec: dict, artifacts: dict[str, str], siblings: dict[str, _Result],
                 depends_on: set[str]) -> str:
        if "componentInputArtifact" in spec:
            return _from_parent(where, artifacts, spec["componentInputArtifact"], "artifact")
        ref = spec["taskOutputArtifact"]
        producer, out_key = self.producer(where, ref["producerTask"], siblings, depends_on), ref["outputArtifactKey"]
        while producer.children:  # a DAG: follow its output's selector down to a container task
            selectors = producer.component["dag"]["outputs"]["artifacts"][out_key]["artifactSelectors"]
            if self.oneof_fixed:
                chosen = next((s for s in selectors if producer.children[s["producerSubtask"]].ran), None)
                if chosen is None:
                    raise DriverError(f"{where}: processing OneOf: no successful task found for output key {out_key!r}")
            else:
                chosen = selectors[-1]
            producer, out_key = producer.children[chosen["producerSubtask"]], chosen["outputArtifactKey"]
            if not producer.ran:
                raise DriverError(f"{where}: input artifact {key!r}: producer task {chosen['producerSubtask']!r} did "
                                  "not run (its branch was skipped), so its output artifact cannot be found")
        return producer.artifacts[out_key]

    def producer(self, where: str, name: str, siblings: dict[str, _Result], depends_on: set[str]) -> _Result:
        if name not in depends_on:
            raise DriverError(f"{where}: reads an output of task {name!r} without depending on it: the workflow "
                              "may start it first")
        result = siblings[name]
        if not result.ran:
            raise DriverError(f"{where}: producer task {name!r} did not run")
        return result


def _from_parent(where: str, values: dict[str, Any], name: str, kind: str) -> Any:
    if name not in values:  # the driver's "parent DAG does not have input ..." (resolve.go)
        raise DriverError(f"{where}: the parent DAG does not have input {kind} {name!r}")
    return values[name]


def _ancestors(tasks: dict[str, dict], name: str) -> set[str]:
    found, todo = set(), list(tasks[name].get("dependentTasks", []))
    while todo:
        dep = todo.pop()
        if dep not in found:
            found.add(dep)
            todo += tasks[dep].get("dependentTasks", [])
    return found


def _dag_parameter(producer: _Result, key: str, where: str) -> Any:
    if not producer.children:
        return producer.params[key]
    spec = producer.component["dag"]["outputs"]["parameters"][key]
    if "valueFromOneof" in spec:
        for sel in spec["valueFromOneof"]["parameterSelectors"]:
            child = producer.children[sel["producerSubtask"]]
            if child.ran:
                return _dag_parameter(child, sel["outputParameterKey"], where)
        raise DriverError(f"{where}: parameter OneOf {key!r}: no branch ran")
    sel = spec["valueFromParameter"]
    return _dag_parameter(producer.children[sel["producerSubtask"]], sel["outputParameterKey"], where)


_PARAM = re.compile(r"inputs\.parameter_values\['([^']+)'\]")


def _condition(expression: str, params: dict[str, Any]) -> bool:
    """The CEL subset kfp's compiler writes, evaluated over the task's input parameters."""
    python = _PARAM.sub(lambda m: f"P[{m.group(1)!r}]", expression)
    python = python.replace("&&", " and ").replace("||", " or ")
    python = re.sub(r"!(?!=)", " not ", python)
    if re.search(r"[^\w\s'\"\[\]().=!<>+-]", python.replace(" and ", "").replace(" or ", "").replace(" not ", "")):
        raise DriverError(f"stand-in: condition {expression!r} is outside the subset it understands")
    return bool(eval(python, {"__builtins__": {}}, {"P": params, "int": int}))  # noqa: S307 - the subset above
