"""This CPU's measured matrix-multiply peaks, FP32 and INT8, through ONNX Runtime's own kernels (MLAS).

A model's achieved GOP/s means little alone; next to what the same runtime reaches on a large square
GEMM on the same threads it says how much headroom is left (the INT8 target is >= 75 % of peak).
"""

from __future__ import annotations

import time

import numpy as np

from personseg.runtime import default_threads, onnx_session

SIZE = 1024


def _gemm_model(int8: bool) -> bytes:
    from onnx import TensorProto, helper

    if int8:
        inputs = [helper.make_tensor_value_info("a", TensorProto.UINT8, [SIZE, SIZE]),
                  helper.make_tensor_value_info("b", TensorProto.INT8, [SIZE, SIZE])]
        node = helper.make_node("MatMulInteger", ["a", "b"], ["c"])
        out = helper.make_tensor_value_info("c", TensorProto.INT32, [SIZE, SIZE])
    else:
        inputs = [helper.make_tensor_value_info(n, TensorProto.FLOAT, [SIZE, SIZE]) for n in "ab"]
        node = helper.make_node("MatMul", ["a", "b"], ["c"])
        out = helper.make_tensor_value_info("c", TensorProto.FLOAT, [SIZE, SIZE])
    graph = helper.make_graph([node], "gemm", inputs, [out])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]).SerializeToString()


def _rate(int8: bool, threads: int, seconds: float) -> float:
    sess = onnx_session(_gemm_model(int8), threads)  # the options every model in the report runs with
    rng = np.random.default_rng(0)
    if int8:
        feed = {"a": rng.integers(0, 255, (SIZE, SIZE), dtype=np.uint8),
                "b": rng.integers(-127, 127, (SIZE, SIZE), dtype=np.int8)}
    else:
        feed = {n: rng.random((SIZE, SIZE), dtype=np.float32) for n in "ab"}
    sess.run(None, feed)
    best = float("inf")
    deadline = time.perf_counter() + seconds
    while time.perf_counter() < deadline:
        start = time.perf_counter()
        sess.run(None, feed)
        best = min(best, time.perf_counter() - start)
    return 2 * SIZE**3 / best / 1e9


def measure_peaks(threads: int | None = None, seconds: float = 1.0) -> dict[str, float]:
    """``{"fp32_gflops", "int8_gops"}``: best-of rates of a 1024^3 GEMM over ``seconds`` each.

    ``threads`` defaults to ``default_threads()``, the count every step runs with (CPU quota aware).
    """
    threads = threads or default_threads()
    return {"fp32_gflops": _rate(False, threads, seconds), "int8_gops": _rate(True, threads, seconds)}
