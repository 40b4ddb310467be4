"""Export a PyTorch saved model to ONNX (TorchScript exporter, dynamic batch) as a saved-model dir.

Kernel==stride transposed convolutions are rewritten as sub-pixel convolutions (``rewrite.py``) so INT8
quantization reaches them; the rewrite is exact.
"""

from __future__ import annotations

from pathlib import Path

import onnx
import torch

from personseg.modeldir import ModelInfo, write_config
from personseg.models.checkpoint import load_model
from personseg.quantize.rewrite import convtranspose_to_subpixel

ONNX_FILE = "model.onnx"
OPSET = 17


def export_onnx(info: ModelInfo, out_dir: str | Path) -> Path:
    """Write ``model.onnx`` (FP32) and its config into ``out_dir``; returns the ONNX path."""
    model = load_model(info.path, info)
    out_dir = Path(out_dir)
    path = out_dir / ONNX_FILE
    example = torch.zeros(1, 3, info.image_size, info.image_size)
    with torch.inference_mode():
        torch.onnx.export(
            model, (example,), str(path), dynamo=False, opset_version=OPSET, input_names=["input"],
            output_names=["logits"], dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}},
            do_constant_folding=True,
        )
    model, rewritten = convtranspose_to_subpixel(onnx.load(str(path)))
    onnx.save_model(model, str(path))
    write_config(out_dir, kind="onnx", precision="fp32", weights=ONNX_FILE, image_size=info.image_size,
                 arch=info.arch, extra={"source": {"uri": str(info.path), "kind": "torch"},
                                        "rewrites": {"convtranspose_to_subpixel": rewritten}})
    return path
