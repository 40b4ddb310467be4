"""Intel Neural Compressor 3.x PT2E static INT8 (X86InductorQuantizer) lowered by torch.compile.

The documented 3.x torch flow: ``neural_compressor.torch.export.export`` to an ATen graph,
``prepare(graph, StaticQuantConfig())``, calibration batches, ``convert``, then ``torch.compile`` with
Inductor freezing so the quantize/dequantize pairs fuse into oneDNN INT8 convolutions. On torch >= 2.11
INC takes the PT2E pieces from ``torchao``.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from personseg.bench.runner import Logits, full_batches, padded
from personseg.bench.torch_peers import freeze_inductor


def pt2e_int8(model: nn.Module, calibration: np.ndarray, batch: np.ndarray) -> Logits:
    """INT8 ``model`` calibrated on ``calibration`` (N, 3, S, S), compiled on ``batch`` now."""
    from neural_compressor.torch.export import export
    from neural_compressor.torch.quantization import StaticQuantConfig, convert, prepare

    example = torch.from_numpy(np.ascontiguousarray(batch, dtype=np.float32))
    graph = export(model.eval(), (example,))
    if graph is None:  # INC logs the export error and returns None
        raise RuntimeError("neural_compressor.torch.export could not export the model (see its log)")
    prepared = prepare(graph, StaticQuantConfig())
    with torch.no_grad():
        for chunk in full_batches(calibration, len(batch)):
            prepared(torch.from_numpy(chunk))
    quantized = convert(prepared)
    freeze_inductor()
    fn = torch.compile(quantized)

    def run(x: np.ndarray) -> np.ndarray:
        with torch.inference_mode():
            return fn(torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32))).numpy()

    run(batch)
    return padded(run, len(batch))
