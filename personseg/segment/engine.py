"""What computes the outputs: a saved model in this process, or a running server over HTTP.

Both take a batch of encoded images and return, per image, the output PNG or the reason it failed, so
one bad image never stops its batch. The local engine runs the server's own pre- and post-processing
(``personseg.serving.model``) and rendering (``personseg.serving.compose``): a file segmented here equals
the server's answer for the same bytes.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Protocol

import numpy as np
from PIL import Image

from personseg.errors import UserError
from personseg.serving import compose
from personseg.serving.decode import ImageLimits, decode_image

DEFAULT_BATCH = 8  # the server's default PERSONSEG_MAX_BATCH
# A file on disk is the user's own: Pillow's decompression-bomb ceiling is the only pixel limit.
FILE_LIMITS = ImageLimits(max_bytes=1 << 31, max_pixels=Image.MAX_IMAGE_PIXELS or 1 << 31, pixels_setting="")


@dataclass(frozen=True)
class Outcome:
    """One image's result: the PNG bytes, or ``error`` saying why there are none."""

    png: bytes | None = None
    error: str = ""


class Engine(Protocol):
    """Turns encoded images into output PNGs, ``batch_size`` at a time."""

    batch_size: int
    description: str

    def run(self, images: list[bytes], names: list[str]) -> list[Outcome]:
        """One outcome per image, in order."""
        ...


def model_batch_size(extra: dict) -> int:
    """The card's ``batch_size`` when it records one, else the server's default batch."""
    value = extra.get("batch_size")
    return int(value) if isinstance(value, int) and value >= 1 else DEFAULT_BATCH


class LocalEngine:
    """A saved model (directory, ``s3://`` prefix or ``models:/`` reference) run in this process."""

    def __init__(self, uri: str, output: str, background: tuple[int, int, int] | None, threads: int,
                 alpha: str = "clean") -> None:
        from personseg.serving.model import SegmentationModel

        self.model = SegmentationModel(uri, threads)
        self.model.load()
        self.output = output
        self.background = background
        self.alpha = alpha
        self.batch_size = model_batch_size(self.model.info.extra)
        self.description = f"{self.model.info.name} {self.model.version} ({self.model.runtime_name})"

    def probabilities(self, images: list[Image.Image]) -> list[np.ndarray]:
        """Per image, (height, width) person probabilities at its own size."""
        prepared = [self.model.preprocess(im) for im in images]
        logits = self.model.predict(np.stack([p.tensor for p in prepared]))
        return [self.model.postprocess(logits[i, 0], p) for i, p in enumerate(prepared)]

    def run(self, images: list[bytes], names: list[str]) -> list[Outcome]:
        """Decode each image alone (a bad one fails alone), then run the good ones as one batch."""
        decoded: dict[int, Image.Image] = {}
        outcomes = [Outcome() for _ in images]
        for i, (data, name) in enumerate(zip(images, names)):
            try:
                decoded[i] = decode_image(data, FILE_LIMITS, field=name)
            except UserError as exc:
                outcomes[i] = Outcome(error=str(exc))
        if decoded:
            order = sorted(decoded)
            probs = self.probabilities([decoded[i] for i in order])
            for i, prob in zip(order, probs):
                outcomes[i] = Outcome(png=compose.render(self.output, decoded[i], prob, self.background, self.alpha))
        return outcomes


class ServerEngine:
    """A running model server: each image is POSTed to its ``/v1/segment``, a batch's worth at once.

    Concurrent requests let the server's micro-batcher batch them. A 4xx answer fails that image with the
    server's message; a server that cannot be reached stops the run.
    """

    def __init__(self, url: str, output: str, background: tuple[int, int, int] | None, alpha: str = "clean",
                 batch_size: int = DEFAULT_BATCH, timeout: float = 120.0) -> None:
        import httpx

        self.url = url.rstrip("/")
        self.params = {"output": output}
        if output in ("cutout", "composite"):
            self.params["alpha"] = alpha
        if background is not None:
            self.params["background"] = "%02x%02x%02x" % background
        self.batch_size = batch_size
        self.client = httpx.Client(timeout=timeout)
        self.description = self._describe()

    def _describe(self) -> str:
        import httpx

        try:
            resp = self.client.get(f"{self.url}/v2/health/ready")
        except httpx.TransportError as exc:
            raise UserError(f"server {self.url}: cannot connect ({exc})") from None
        if resp.status_code != 200:
            raise UserError(f"server {self.url}: not ready (GET /v2/health/ready answered {resp.status_code})")
        return f"server {self.url}"

    def _post(self, data: bytes, name: str) -> Outcome:
        import httpx

        try:
            resp = self.client.post(f"{self.url}/v1/segment", params=self.params, content=data,
                                    headers={"content-type": "application/octet-stream"})
        except httpx.TransportError as exc:
            raise UserError(f"server {self.url}: request for {name} failed ({exc})") from None
        if resp.status_code == 200:
            return Outcome(png=resp.content)
        try:
            message = resp.json().get("error", resp.text)
        except ValueError:
            message = resp.text[:200]
        if resp.status_code >= 500 or resp.status_code == 429:  # the server's trouble, not the image's
            raise UserError(f"server {self.url}: {resp.status_code} for {name}: {message}")
        return Outcome(error=f"{name}: server answered {resp.status_code}: {message}")

    def run(self, images: list[bytes], names: list[str]) -> list[Outcome]:
        """POST every image of the batch concurrently; outcomes in input order."""
        with ThreadPoolExecutor(max_workers=max(1, len(images))) as pool:
            return list(pool.map(self._post, images, names))

    def close(self) -> None:
        """Close the HTTP connections."""
        self.client.close()
