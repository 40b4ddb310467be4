"""The precision a quantized model really has: counted in its graph and in what its runtime executes.

Tuning can fall back op type by op type until nothing is quantized, and still hands back a model. Calling
that model "int8" because the quantize step wrote it would ship an FP32 graph under an INT8 name, and the
evaluation would credit quantization with whatever it measured. So the card records ``quantized_ops``
(QuantizeLinear, DequantizeLinear, QLinear*, ConvInteger, ... in the written graph) and ``int8_nodes``
(the runtime's kernels that read 8-bit data), and ``precision`` is "int8" only when both are non-zero.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Protocol

import onnx

QUANTIZED_OP_TYPES = frozenset({"QuantizeLinear", "DequantizeLinear", "DynamicQuantizeLinear", "ConvInteger",
                                "MatMulInteger", "MatMulIntegerToFloat", "DynamicQuantizeMatMul"})


class ExecutedNode(Protocol):
    """A node as a runtime executes it (``ort_graph.RuntimeNode`` or ``openvino_graph.OpenVINONode``)."""

    @property
    def runs_on_int8(self) -> bool:
        """Whether it computes on 8-bit data."""


@dataclass(frozen=True)
class Precision:
    """What the written model holds: its precision, quantization ops in the graph, 8-bit kernels run."""

    precision: str
    quantized_ops: int
    int8_nodes: int

    def to_dict(self) -> dict[str, int | str]:
        """The card's and the metrics' fields."""
        return {"precision": self.precision, "quantized_ops": self.quantized_ops, "int8_nodes": self.int8_nodes}

    def warning(self, where: str) -> str:
        """One line saying the model is FP32 although it was quantized ("" when it is INT8)."""
        if self.precision == "int8":
            return ""
        return (f"warning: {where}: quantization kept no INT8 op ({self.quantized_ops} quantization ops in the graph, "
                f"{self.int8_nodes} kernels on 8-bit data); the model runs in FP32 and is recorded as fp32")


def quantized_op_count(model: onnx.ModelProto) -> int:
    """Nodes of the graph that quantize, dequantize or compute on integers."""
    return sum(n.op_type in QUANTIZED_OP_TYPES or n.op_type.startswith("QLinear") for n in model.graph.node)


def measure(quantized_ops: int, executed: Iterable[ExecutedNode]) -> Precision:
    """The precision of a model with ``quantized_ops`` in its graph whose runtime executes ``executed``."""
    int8_nodes = sum(1 for n in executed if n.runs_on_int8)
    return Precision("int8" if quantized_ops and int8_nodes else "fp32", quantized_ops, int8_nodes)
