"""This CPU's measured matrix-multiply peaks, FP32 and INT8, through ONNX Runtime's own kernels (MLAS).

A model's achieved GOP/s means little alone; next to what the same runtime reaches on a large square
GEMM on the same threads it says how much headroom is left (the INT8 target is >= 75 % of peak).

Why best of several short trials after a warm-up: one timing window on a shared machine reads low
whenever another process holds a core for that window, or while the core is still ramping its clock
frequency after idling (one 1 s window read 121-191 GFLOP/s run to run on a shared 2-core VM). A peak is what the
hardware can do, so the warm-up lets the clock ramp, FP32 and INT8 trials alternate to spread each over
time, and the best trial counts; every trial's rate is kept so the spread is visible in the report.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np

from personseg.cpuquota import default_threads
from personseg.runtime.onnx import onnx_session

SIZE = 1024
FLOPS = 2 * SIZE**3
TRIALS = 5
WARMUP_S = 0.3


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


def _gemm(int8: bool, threads: int) -> Callable[[], None]:
    """One 1024^3 GEMM on a session with the options every model in the report runs with."""
    sess = onnx_session(_gemm_model(int8), threads)
    rng = np.random.default_rng(0)
    if int8:
        feed = {"a": rng.integers(0, 255, (SIZE, SIZE), dtype=np.uint8),
                "b": rng.integers(-127, 127, (SIZE, SIZE), dtype=np.int8)}
    else:
        feed = {n: rng.random((SIZE, SIZE), dtype=np.float32) for n in "ab"}
    return lambda: sess.run(None, feed)


def _shortest(run: Callable[[], None], seconds: float, clock: Callable[[], float]) -> float:
    """Shortest single run, in seconds, over a window of ``seconds`` (at least one run)."""
    best = float("inf")
    deadline = clock() + seconds
    while True:
        start = clock()
        run()
        end = clock()
        best = min(best, end - start)
        if end >= deadline:
            return best


def best_of_trials(runs: dict[str, Callable[[], None]], trials: int, seconds: float, warmup: float,
                   clock: Callable[[], float] = time.perf_counter) -> dict[str, list[float]]:
    """Per name, the shortest run time of each of ``trials`` windows of ``seconds``, after ``warmup`` each.

    Names alternate trial by trial so a burst of load elsewhere hits one trial of each, not all of one.
    """
    for run in runs.values():
        _shortest(run, warmup, clock)
    times: dict[str, list[float]] = {name: [] for name in runs}
    for _ in range(trials):
        for name, run in runs.items():
            times[name].append(_shortest(run, seconds, clock))
    return times


def measure_peaks(threads: int | None = None, seconds: float = 1.0, trials: int = TRIALS,
                  warmup: float = WARMUP_S) -> dict[str, float | list[float]]:
    """``{"fp32_gflops", "int8_gops"}``: the best of ``trials`` rates of a 1024^3 GEMM, plus each trial's.

    ``seconds`` per precision is split over the trials (each runs at least once). ``threads`` defaults
    to ``default_threads()``, the count every step runs with (CPU quota aware).
    """
    threads = threads or default_threads()
    times = best_of_trials({"fp32_gflops": _gemm(False, threads), "int8_gops": _gemm(True, threads)},
                           trials, seconds / trials, warmup)
    rates = {name: [FLOPS / t / 1e9 for t in ts] for name, ts in times.items()}
    return {**{name: max(r) for name, r in rates.items()}, **{f"{name}_trials": r for name, r in rates.items()}}
