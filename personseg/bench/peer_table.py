"""Measure every peer row alike: test-split quality, agreement with FP32 eager, interleaved timing.

Quality: IoU/Dice/boundary F on the **test** split (``personseg.evaluate.step.scored_images``,
letterbox padding skipped), and IoU on every image of a second set (``extra``: the real photographs)
when one is given; agreement IoU against the FP32 eager model of the same network, run in the same
process. Speed: all rows interleaved round-robin after a warm-up (``personseg.evaluate.latency``),
speedup against the baseline row's median measured in the same run. A row that raises while scored
keeps the error as its reason and is left out of the timing.
"""

from __future__ import annotations

import importlib.metadata
from collections.abc import Sequence

import numpy as np

from personseg.bench.runner import Runner, why
from personseg.cpuinfo import cpu_info
from personseg.data.loading import LoadedData
from personseg.evaluate.latency import benchmark
from personseg.evaluate.peak import measure_peaks
from personseg.evaluate.step import scored_images
from personseg.quality import agreement_iou, mean_scores
from personseg.runtime import predict_masks

LIBRARIES = ("torch", "onnxruntime", "openvino", "nncf", "neural-compressor", "onnx-neural-compressor", "torchao")
REFERENCE_PEER = "fp32-eager"


def versions() -> dict[str, str | None]:
    """Installed version of each library a peer uses (``None``: not installed)."""
    out: dict[str, str | None] = {}
    for name in LIBRARIES:
        try:
            out[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            out[name] = None
    return out


class _Timed:
    """Adapter: ``latency.benchmark`` times objects with a ``logits`` method."""

    def __init__(self, runner: Runner) -> None:
        self.logits = runner.logits


def _inputs(held: LoadedData) -> np.ndarray:
    return held.images.transpose(0, 3, 1, 2).astype(np.float32) / 255.0


def measure(runners: Sequence[Runner], data: str, size: int, baseline: str, gflops: dict[str, float | None],
            batch_size: int = 8, rounds: int = 10, warmup: int = 2, threads: int = 2,
            peak_seconds: float = 1.0, params: dict[str, int] | None = None, extra: str | None = None) -> dict:
    """The peer table as a dict: machine, versions, and one row per runner (figures or a reason).

    ``params`` maps a network to its parameter count; ``extra`` is a second set scored whole (every image).
    """
    held = scored_images(data, size, "test")
    images = _inputs(held)
    second = scored_images(extra, size, "all") if extra else None
    masks: dict[str, np.ndarray] = {}
    extra_iou: dict[str, float] = {}
    for r in runners:
        if r.logits is None:
            continue
        try:
            masks[r.name] = predict_masks(r.logits, images, batch_size)
            if second is not None:
                extra_iou[r.name] = mean_scores(predict_masks(r.logits, _inputs(second), batch_size),
                                                second.labels)["iou"]
        except Exception as exc:  # a stack that builds but fails to run: its row says why
            r.logits, r.reason = None, why(exc)
    live = [r for r in runners if r.logits is not None]
    if baseline not in {r.name for r in live}:
        raise RuntimeError(f"baseline row {baseline!r} did not run; the speedup column has no reference")
    batch = np.ascontiguousarray(np.resize(images, (batch_size, 3, size, size)))
    timings = dict(zip([r.name for r in live], benchmark([_Timed(r) for r in live], batch, rounds, warmup)))
    peak = measure_peaks(threads, seconds=peak_seconds) if peak_seconds > 0 else None
    base_ms = timings[baseline].median_ms
    rows = []
    for r in runners:
        row: dict = {"name": r.name, "network": r.network, "peer": r.peer, "precision": r.precision,
                     "reason": r.reason}
        if r.logits is not None:
            t = timings[r.name]
            ref = f"{r.network} {REFERENCE_PEER}"
            gf = gflops.get(r.network)
            achieved = gf * t.images_per_s if gf else None
            key = "int8_gops" if r.precision == "int8" else "fp32_gflops"
            row.update({
                **mean_scores(masks[r.name], held.labels),
                "agreement_iou": agreement_iou(masks[r.name], masks[ref], held.labels) if ref in masks else None,
                "agreement_with": ref if ref in masks else None,
                "latency_ms": {"median": t.median_ms, "p90": t.p90_ms,
                               "min": t.min_ms, "max": t.max_ms},
                "images_per_s": t.images_per_s, "speedup": base_ms / t.median_ms,
                "gflops": gf, "params": (params or {}).get(r.network), "extra_iou": extra_iou.get(r.name),
                "achieved_gops": achieved,
                "fraction_of_peak": achieved / peak[key] if peak and achieved else None,
            })
        rows.append(row)
    return {"batch_size": batch_size, "image_size": size, "threads": threads, "rounds": rounds,
            "cpu": {**cpu_info().summary(), "peak": peak}, "versions": versions(), "baseline": baseline,
            "data": {"uri": data, "split": "test", "samples": len(held.ids)},
            "extra_data": {"uri": extra, "samples": len(second.ids)} if second is not None else None,
            "models": rows}
