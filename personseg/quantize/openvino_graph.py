"""What OpenVINO executes: its runtime model (each primitive's precision) and its performance counters (time).

OpenVINO's CPU plugin turns QDQ pairs into FakeQuantize and fuses them into 8-bit kernels where it can;
what it could not fuse it runs as separate primitives: a FakeQuantize or Convert that requantizes a tensor,
a Reorder that changes layout or precision, a kernel on f32. Which ops run INT8 is read from here, as
``ort_graph`` reads ONNX Runtime's optimized graph, not guessed from the IR:

* the runtime model (``compiled.get_runtime_model()``) lists the primitives, each with ``layerType``,
  ``runtimePrecision`` and ``outputPrecisions`` in its rt_info (``openvino_executed_nodes``);
* the performance counters of a model compiled with ``PERF_COUNT`` (``request.profiling_info``) give each
  executed primitive's kernel (``exec_type``: ``brgconv_avx512_amx_I8``, ``jit_avx512_f32``, ``ref_I8``...)
  and its time, so ``profile`` says where a batch's time goes: INT8 kernels, f32 kernels, reorders and
  requantizations.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Any

import numpy as np

OV_FLOAT = frozenset({"f32", "f16", "bf16", "f64"})
# Graph ends, constants and memory views: no kernel computes anything there.
OV_NOT_COMPUTE = frozenset({"Input", "Output", "Const", "Reshape", "Squeeze", "Unsqueeze"})
OV_EIGHT_BIT = frozenset({"i8", "u8"})
# Primitives that only change a tensor's layout or element type, or requantize it between two 8-bit grids.
MOVES_DATA = frozenset({"Reorder", "Convert"})
REQUANTIZES = frozenset({"FakeQuantize"})


@dataclass(frozen=True)
class OpenVINONode:
    """One primitive of OpenVINO's runtime model and the primitives feeding it."""

    name: str
    layer_type: str
    runtime_precision: str
    output_precisions: tuple[str, ...]
    inputs: tuple[str, ...]

    @property
    def runs_on_float(self) -> bool:
        """A computing primitive executed in floating point; a FakeQuantize to 8 bits is the INT8 boundary."""
        if self.layer_type in OV_NOT_COMPUTE or self.runtime_precision not in OV_FLOAT:
            return False
        quantizes = self.layer_type == "FakeQuantize" and not set(self.output_precisions) & OV_FLOAT
        return not quantizes

    @property
    def runs_on_int8(self) -> bool:
        """A primitive executed on 8-bit data (an INT8 convolution, or a reorder between two of them)."""
        return self.layer_type not in OV_NOT_COMPUTE and self.runtime_precision in OV_EIGHT_BIT


def openvino_executed_nodes(compiled: object) -> list[OpenVINONode]:
    """The primitives an OpenVINO compiled model executes, in execution order."""
    nodes = []
    for op in compiled.get_runtime_model().get_ordered_ops():
        info = op.get_rt_info()

        def field(key: str, info: object = info) -> str:
            return info[key].astype(str) if key in info else ""

        nodes.append(OpenVINONode(
            op.get_friendly_name(), field("layerType"), field("runtimePrecision"),
            tuple(p for p in field("outputPrecisions").split(",") if p),
            tuple(i.get_source_output().get_node().get_friendly_name() for i in op.inputs())))
    return nodes


def openvino_fp32_nodes(compiled: object) -> list[dict[str, str]]:
    """Computing primitives OpenVINO runs in floating point (the OpenVINO model card's ``fp32_nodes``)."""
    return [{"name": n.name, "op_type": n.layer_type, "precision": n.runtime_precision}
            for n in openvino_executed_nodes(compiled) if n.runs_on_float]


@dataclass(frozen=True)
class Kernel:
    """One executed primitive as the performance counters report it: its kernel and mean time per inference."""

    name: str
    node_type: str
    exec_type: str
    ms: float

    @property
    def precision(self) -> str:
        """The kernel's precision, the last part of ``exec_type`` lower-cased (``I8`` and ``i8`` are one)."""
        return self.exec_type.rsplit("_", 1)[-1].lower()

    @property
    def on_float(self) -> bool:
        """A kernel that computes on float (a Reorder or Convert is data movement; a FakeQuantize requantizes)."""
        return self.precision in OV_FLOAT and self.node_type not in MOVES_DATA | REQUANTIZES

    @property
    def overhead(self) -> bool:
        """Work an INT8 graph fused whole would not do: reorders, conversions, requantizations."""
        return self.node_type in MOVES_DATA | REQUANTIZES


@dataclass(frozen=True)
class Profile:
    """Where a batch's time goes in an OpenVINO compiled model."""

    kernels: tuple[Kernel, ...]
    batch: int
    runs: int

    @property
    def total_ms(self) -> float:
        """Sum of the executed primitives' times (a little under the wall time of an inference)."""
        return sum(k.ms for k in self.kernels)

    def share(self, kernels: list[Kernel]) -> float:
        """Their part of ``total_ms``."""
        return sum(k.ms for k in kernels) / self.total_ms if self.total_ms else 0.0

    def float_kernels(self) -> list[Kernel]:
        """Computing kernels on float, slowest first."""
        return sorted((k for k in self.kernels if k.on_float), key=lambda k: -k.ms)

    def overheads(self) -> list[Kernel]:
        """Reorders, conversions and requantizations, slowest first."""
        return sorted((k for k in self.kernels if k.overhead), key=lambda k: -k.ms)

    def by_type(self) -> dict[str, dict[str, Any]]:
        """Per node type, slowest first: count, ms and the kernels (exec types) that ran it."""
        types: dict[str, dict[str, Any]] = {}
        for k in self.kernels:
            row = types.setdefault(k.node_type, {"count": 0, "ms": 0.0, "exec_types": Counter()})
            row["count"] += 1
            row["ms"] += k.ms
            row["exec_types"][k.exec_type] += 1
        return {t: {**r, "exec_types": dict(r["exec_types"])}
                for t, r in sorted(types.items(), key=lambda kv: -kv[1]["ms"])}

    def summary(self) -> dict[str, Any]:
        """The model card's ``executed`` field: shares of the time, and the float and overhead kernels."""
        def listed(kernels: list[Kernel]) -> list[dict[str, Any]]:
            return [{"name": k.name, "node_type": k.node_type, "exec_type": k.exec_type, "ms": round(k.ms, 3)}
                    for k in kernels]

        return {"batch": self.batch, "runs": self.runs, "total_ms": round(self.total_ms, 3),
                "float_share": round(self.share(self.float_kernels()), 4),
                "overhead_share": round(self.share(self.overheads()), 4),
                "by_type": {t: {**r, "ms": round(r["ms"], 3)} for t, r in self.by_type().items()},
                "float_kernels": listed(self.float_kernels()), "overheads": listed(self.overheads())}


def profile(compiled: Any, batch: np.ndarray, runs: int = 3) -> Profile:
    """Mean time per executed primitive over ``runs`` inferences of ``batch`` (after one warm-up).

    ``compiled`` must have been compiled with ``PERF_COUNT`` (``compile_openvino(..., profile=True)``).
    """
    import openvino as ov

    request = compiled.create_infer_request()
    request.infer({0: np.ascontiguousarray(batch, dtype=np.float32)})
    totals: dict[tuple[str, str, str], float] = {}
    for _ in range(runs):
        request.infer({0: np.ascontiguousarray(batch, dtype=np.float32)})
        for p in request.profiling_info:
            if p.status == ov.ProfilingInfo.Status.EXECUTED:
                key = (p.node_name, p.node_type, p.exec_type)
                totals[key] = totals.get(key, 0.0) + p.real_time.total_seconds() * 1000 / runs
    if not totals:
        raise ValueError("OpenVINO reported no executed primitive: compile the model with PERF_COUNT "
                         "(compile_openvino(..., profile=True))")
    return Profile(tuple(Kernel(n, t, e, ms) for (n, t, e), ms in totals.items()), len(batch), runs)
