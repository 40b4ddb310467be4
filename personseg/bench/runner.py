"""One row of the peer table: a runnable model, or the reason it cannot run on this machine.

A peer that fails to build (a missing package, an export error, no C compiler for torch.compile)
becomes a row that carries the error instead of figures, so one broken stack never hides the others.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

Logits = Callable[[np.ndarray], np.ndarray]


@dataclass
class Runner:
    """A model under one stack: ``logits`` maps (N, 3, S, S) float32 to (N, 1, S, S) logits."""

    network: str
    peer: str
    precision: str
    logits: Logits | None
    reason: str | None = None

    @property
    def name(self) -> str:
        """Row name, e.g. ``bilinear ort-qs``."""
        return f"{self.network} {self.peer}"


def why(exc: BaseException) -> str:
    """A one-line reason from an exception: its type and the first line of its message."""
    first = (str(exc).strip().splitlines() or [""])[0]
    return f"{type(exc).__name__}: {first[:200]}"


def attempt(network: str, peer: str, precision: str, build: Callable[[], Logits]) -> Runner:
    """Build a runner; an exception becomes the row's reason (named, never swallowed silently)."""
    try:
        return Runner(network, peer, precision, build())
    except Exception as exc:  # any stack's failure: the table prints it instead of a number
        return Runner(network, peer, precision, None, why(exc))


def padded(logits: Logits, batch: int) -> Logits:
    """Run a fixed-batch compiled model on any batch up to ``batch`` by padding with zeros.

    Compiled graphs (torch.compile, PT2E) specialise on the batch they saw; a shorter last batch would
    otherwise trigger a recompile inside the timed or scored calls.
    """

    def run(x: np.ndarray) -> np.ndarray:
        n = len(x)
        if n == batch:
            return logits(x)
        if n > batch:
            return np.concatenate([run(x[i : i + batch]) for i in range(0, n, batch)])
        pad = np.zeros((batch - n, *x.shape[1:]), dtype=x.dtype)
        return logits(np.concatenate([x, pad]))[:n]

    return run


def full_batches(images: np.ndarray, batch: int) -> list[np.ndarray]:
    """``images`` in batches of exactly ``batch``, the last one filled by cycling from the first image.

    Graphs exported at a fixed batch refuse a shorter one; cycling keeps the calibration set the same
    images rather than adding blank ones.
    """
    count = -(-len(images) // batch) * batch
    cycled = np.resize(images, (count, *images.shape[1:]))
    return [np.ascontiguousarray(cycled[i : i + batch]) for i in range(0, count, batch)]


# Every stack the peer table knows, in table order: key -> (precision, what the row runs).
PEERS: dict[str, tuple[str, str]] = {
    "fp32-eager": ("fp32", "PyTorch eager FP32 (NCHW), the baseline"),
    "channels-last": ("fp32", "PyTorch eager FP32, channels_last"),
    "compile": ("fp32", "torch.compile FP32 (Inductor, freezing)"),
    "onnx-fp32": ("fp32", "ONNX Runtime FP32 (our export)"),
    "openvino-fp32": ("fp32", "OpenVINO FP32 (f32 precision, our export)"),
    "ours": ("int8", "ours: INC ONNX INT8 on ONNX Runtime (personseg quantize)"),
    "ours-openvino": ("int8", "ours on OpenVINO (personseg quantize --runtime openvino: INC's INT8, with its image "
                              "convolution quantized or NNCF's if measured faster)"),
    "ort-qs": ("int8", "ONNX Runtime quantize_static INT8 (QDQ, per-channel, no tuning)"),
    "nncf": ("int8", "OpenVINO + NNCF INT8"),
    "pt2e": ("int8", "neural-compressor PT2E INT8 + torch.compile"),
}
