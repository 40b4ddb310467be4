"""What ONNX Runtime executes: the optimized graph (after QDQ fusion) with each node's input types.

Which ops run INT8 is read from here, not guessed from the QDQ graph: ORT fuses DequantizeLinear -> op ->
QuantizeLinear into an 8-bit kernel only where it has one, and leaves the rest running on float. The
optimized graph ORT writes carries no types, so they come from its profiler (one run on a zero batch),
which records each kernel's input types.
"""

from __future__ import annotations

import json
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnx

from personseg.runtime.onnx import onnx_session

# Ops that take float by definition (the INT8 boundary) or only read a tensor's shape.
BOUNDARY_OPS = frozenset({"QuantizeLinear", "DequantizeLinear", "DynamicQuantizeLinear", "Shape", "Size"})
FLOAT_TYPES = frozenset({"float", "float16", "bfloat16", "double"})
EIGHT_BIT_TYPES = frozenset({"int8", "uint8"})
# A node whose input type ONNX Runtime did not record is not claimed to run INT8.
UNKNOWN = "undefined"


def _floating(elem_type: str) -> bool:
    return elem_type in FLOAT_TYPES or elem_type == UNKNOWN


@dataclass(frozen=True)
class RuntimeNode:
    """One executed node: its activation inputs (initializers left out) and their element types."""

    name: str
    op_type: str
    inputs: tuple[str, ...]
    input_types: tuple[str, ...]
    outputs: tuple[str, ...]

    @property
    def runs_on_float(self) -> bool:
        """Whether any activation input is floating point (the node computes in float)."""
        return self.op_type not in BOUNDARY_OPS and any(map(_floating, self.input_types))

    @property
    def runs_on_int8(self) -> bool:
        """Whether a computing node reads 8-bit activations (a QLinear kernel, or data moving between them)."""
        return self.op_type not in BOUNDARY_OPS and any(t in EIGHT_BIT_TYPES for t in self.input_types)


def _kernel_input_types(profile: Path) -> dict[str, tuple[str, ...]]:
    """Node name -> element types of its inputs, as the profiler recorded them."""
    types = {}
    for event in json.loads(profile.read_text()):
        args = event.get("args", {})
        if event.get("cat") == "Node" and "input_type_shape" in args and event["name"].endswith("_kernel_time"):
            name = event["name"][: -len("_kernel_time")]
            types[name] = tuple(next(iter(t)) for t in args["input_type_shape"])
    return types


def executed_nodes(model_path: str | Path, threads: int = 1) -> list[RuntimeNode]:
    """The nodes ONNX Runtime runs for ``model_path`` with the session options we deploy with."""
    with tempfile.TemporaryDirectory(prefix="personseg-ortopt-") as work:
        session = onnx_session(model_path, threads, inspect_dir=work)
        feed = session.get_inputs()[0]
        shape = [d if isinstance(d, int) else 1 for d in feed.shape]
        session.run(None, {feed.name: np.zeros(shape, np.float32)})
        kernel_types = _kernel_input_types(Path(session.end_profiling()))
        graph = onnx.load(str(Path(work) / "optimized.onnx")).graph
    inits = {i.name for i in graph.initializer}
    nodes = []
    for node in graph.node:
        recorded = kernel_types.get(node.name, ())
        # the profiler lists every input (initializers too) in order; keep the activations
        pairs = [(i, recorded[k] if k < len(recorded) else UNKNOWN) for k, i in enumerate(node.input)
                 if i and i not in inits]
        nodes.append(RuntimeNode(node.name, node.op_type, tuple(i for i, _ in pairs), tuple(t for _, t in pairs),
                                 tuple(node.output)))
    return nodes


def fp32_nodes(model_path: str | Path) -> list[dict[str, str]]:
    """Compute nodes ONNX Runtime runs on float inputs (the model card's ``fp32_nodes``)."""
    return [{"name": n.name, "op_type": n.op_type} for n in executed_nodes(model_path) if n.runs_on_float]


def fp32_islands(nodes: list[RuntimeNode]) -> list[list[RuntimeNode]]:
    """Connected float regions between INT8 ops: entered only from DequantizeLinear, left only into QuantizeLinear.

    Each is a dequantize/requantize round trip that an 8-bit kernel would avoid.
    """
    producer = {o: n for n in nodes for o in n.outputs}
    consumers: dict[str, list[RuntimeNode]] = {}
    for n in nodes:
        for i in n.inputs:
            consumers.setdefault(i, []).append(n)
    seen: set[str] = set()
    islands = []
    for start in (n for n in nodes if n.runs_on_float):
        if start.name in seen:
            continue
        members, stack = [], [start]
        seen.add(start.name)
        while stack:
            n = stack.pop()
            members.append(n)
            near = [producer[i] for i in n.inputs if i in producer]
            near += [c for o in n.outputs for c in consumers.get(o, [])]
            for m in near:
                if m.runs_on_float and m.name not in seen:
                    seen.add(m.name)
                    stack.append(m)
        islands.append(members)

    def enclosed(members: list[RuntimeNode]) -> bool:
        inside = {n.name for n in members}
        sources = [producer[i] for n in members for i in n.inputs if i in producer and producer[i].name not in inside]
        sinks = [c for n in members for o in n.outputs for c in consumers.get(o, []) if c.name not in inside]
        fed_by_graph = any(i not in producer for n in members for i, t in zip(n.inputs, n.input_types)
                           if _floating(t))
        return (not fed_by_graph and bool(sources) and bool(sinks)
                and all(s.op_type == "DequantizeLinear" for s in sources)
                and all(s.op_type == "QuantizeLinear" for s in sinks))

    return [m for m in islands if enclosed(m)]
