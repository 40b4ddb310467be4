"""PyTorch eager: the predictor that runs a ``torch`` saved model (the only runtime that imports torch)."""

from __future__ import annotations

import numpy as np

from personseg.cpuquota import default_threads
from personseg.modeldir import ModelInfo


class TorchPredictor:
    """PyTorch eager inference under ``inference_mode`` with the thread count pinned."""

    runtime = "torch"

    def __init__(self, info: ModelInfo, threads: int | None = None) -> None:
        import torch

        from personseg.models.checkpoint import load_model

        self.info = info
        self.threads = threads or default_threads()
        torch.set_num_threads(self.threads)
        self.model = load_model(info.path).eval()

    def logits(self, batch: np.ndarray) -> np.ndarray:
        """Run the module on one batch."""
        import torch

        with torch.inference_mode():
            return self.model(torch.from_numpy(np.ascontiguousarray(batch, dtype=np.float32))).numpy()
