"""The model's lifecycle in the KServe style: load, warm up, preprocess, predict, postprocess.

Pre- and post-processing are the very functions training and evaluation use (``personseg.imageops``),
so a served mask equals an evaluated one. ``predict`` is the only step that touches the runtime and is
called from the single inference thread; the others are pure and run in a thread pool.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from PIL import Image

from personseg.hashing import tree_sha256
from personseg.imageops import Box, sigmoid, to_input, unletterbox
from personseg.modeldir import ModelInfo
from personseg.runtime import Predictor, load_predictor
from personseg.storage.verify import verify_model_tree
from personseg.uris import local_model

log = logging.getLogger(__name__)

# (directory, threads) -> predictor; called with ``runtime=`` as well when the server overrides the card's.
Loader = Callable[..., Predictor]


@dataclass(frozen=True)
class Prepared:
    """One image ready for inference plus what postprocessing needs to map the mask back."""

    tensor: np.ndarray  # (3, S, S) float32 in [0, 1]
    box: Box
    width: int
    height: int


class SegmentationModel:
    """A saved person-segmentation model behind the load/preprocess/predict/postprocess steps.

    Args:
        uri: saved-model directory, ``s3://`` prefix or ``models:/`` reference.
        threads: inference threads for the runtime.
        loader: how to build the predictor from a local directory; ``load_predictor`` unless a test
            wraps it (for example to make loading slow).
        runtime: run the model with this runtime instead of the one its card names (``None``: the card's).
        card_sha256: the model card's digest the deployer pinned; the files are checked against the card
            either way (``personseg.storage.verify``), and a card with another digest is refused.
    """

    def __init__(self, uri: str, threads: int, loader: Loader = load_predictor, runtime: str | None = None,
                 card_sha256: str | None = None) -> None:
        self.uri = uri
        self.card_sha256 = card_sha256
        self.threads = threads
        self.runtime = runtime
        self.loader = loader
        self.predictor: Predictor | None = None
        self.version = ""
        self.ready = False

    @property
    def info(self) -> ModelInfo:
        """The loaded model's ``config.json`` contents."""
        if self.predictor is None:
            raise RuntimeError("model not loaded")
        return self.predictor.info

    @property
    def image_size(self) -> int:
        """Side of the square model input."""
        return self.info.image_size

    def load(self) -> None:
        """Fetch (if remote), check every file against the model card, and open the model."""
        start = time.perf_counter()
        path = local_model(self.uri)
        verify_model_tree(path, self.card_sha256)
        override = {"runtime": self.runtime} if self.runtime else {}
        self.predictor = self.loader(path, self.threads, **override)
        self.version = str(self.info.extra.get("version") or tree_sha256(path)[:12])
        log.info("loaded %s (%s, %s, run by %s, version %s) from %s in %.2fs", self.info.name, self.info.kind,
                 self.info.precision, self.runtime_name, self.version, self.uri, time.perf_counter() - start)

    @property
    def runtime_name(self) -> str:
        """What runs the loaded model (``onnxruntime``, ``openvino`` or ``torch``)."""
        if self.predictor is None:
            raise RuntimeError("model not loaded")
        return getattr(self.predictor, "runtime", None) or self.info.runtime

    def warmup(self, batch_sizes: tuple[int, ...] = (1,)) -> None:
        """Run real inferences so the first request pays no lazy-initialisation cost; check the output."""
        size = self.image_size
        for n in batch_sizes:
            grey = np.full((n, 3, size, size), 0.5, dtype=np.float32)
            out = self.predict(grey)
            if out.shape != (n, 1, size, size) or not np.isfinite(out).all():
                raise RuntimeError(f"warm-up: model returned shape {out.shape} (finite: {np.isfinite(out).all()}), "
                                   f"expected {(n, 1, size, size)}")
        self.ready = True

    def preprocess(self, image: Image.Image) -> Prepared:
        """Letterbox to the model size exactly as training does."""
        tensor, box = to_input(image, self.image_size)
        return Prepared(tensor, box, image.width, image.height)

    def predict(self, batch: np.ndarray) -> np.ndarray:
        """(N, 3, S, S) float32 -> (N, 1, S, S) logits; called from the inference thread only."""
        if self.predictor is None:
            raise RuntimeError("model not loaded")
        return self.predictor.logits(batch)

    @staticmethod
    def postprocess(logits: np.ndarray, prepared: Prepared) -> np.ndarray:
        """(S, S) logits -> (height, width) probabilities at the input's size, soft edges kept."""
        return unletterbox(sigmoid(logits), prepared.box, prepared.width, prepared.height)
