"""Shared helpers for the serving tests: a tiny real ONNX model, test images, a server in a thread."""

from __future__ import annotations

import contextlib
import io
import socket
import struct
import threading
import time
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import numpy as np
from PIL import Image

from personseg.imageops import sigmoid, to_input, unletterbox
from personseg.modeldir import write_config

SIZE = 64
# logit = 20 * mean(rgb) - 10: bright pixels (mean > 0.5) are "person", dark ones background.
WEIGHT = 20.0 / 3.0
BIAS = -10.0


def make_tiny_model(directory: Path, image_size: int = SIZE) -> Path:
    """A real ONNX model (1x1 Conv 3->1, dynamic batch) saved as a personseg model directory."""
    import onnx
    from onnx import TensorProto, helper

    directory.mkdir(parents=True, exist_ok=True)
    weight = helper.make_tensor("w", TensorProto.FLOAT, [1, 3, 1, 1], [WEIGHT] * 3)
    bias = helper.make_tensor("b", TensorProto.FLOAT, [1], [BIAS])
    node = helper.make_node("Conv", ["input", "w", "b"], ["logits"], kernel_shape=[1, 1])
    graph = helper.make_graph(
        [node], "tiny",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["N", 3, image_size, image_size])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["N", 1, image_size, image_size])],
        initializer=[weight, bias],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    onnx.save(model, str(directory / "model.onnx"))
    write_config(directory, kind="onnx", precision="fp32", weights="model.onnx", image_size=image_size,
                 arch={"name": "tiny"})
    return directory


def make_tiny_openvino_model(directory: Path, image_size: int = SIZE) -> Path:
    """The tiny model as OpenVINO IR (``model.xml`` + ``model.bin``, kind ``openvino``)."""
    import openvino as ov

    onnx_dir = make_tiny_model(directory.parent / f".{directory.name}-onnx", image_size)
    directory.mkdir(parents=True, exist_ok=True)
    ov.save_model(ov.Core().read_model(str(onnx_dir / "model.onnx")), str(directory / "model.xml"),
                  compress_to_fp16=False)
    write_config(directory, kind="openvino", precision="fp32", weights="model.xml", image_size=image_size,
                 arch={"name": "tiny"})
    return directory


def reference_logits(batch: np.ndarray) -> np.ndarray:
    """What the tiny model computes, in numpy: (N, 3, S, S) -> (N, 1, S, S)."""
    return (WEIGHT * batch.sum(axis=1, keepdims=True) + BIAS).astype(np.float32)


def reference_probability(image: Image.Image, image_size: int = SIZE) -> np.ndarray:
    """The uint8 probability map ``output=probability`` should return, computed with the training-time image ops."""
    tensor, box = to_input(image, image_size)
    prob = unletterbox(sigmoid(reference_logits(tensor[None])[0, 0]), box, image.width, image.height)
    return np.clip(np.rint(prob * 255.0), 0, 255).astype(np.uint8)


def reference_mask(image: Image.Image, image_size: int = SIZE) -> np.ndarray:
    """The 0/255 mask ``output=mask`` should return: the probability above one half (evaluation's logit > 0)."""
    tensor, box = to_input(image, image_size)
    prob = unletterbox(sigmoid(reference_logits(tensor[None])[0, 0]), box, image.width, image.height)
    return np.where(prob > 0.5, 255, 0).astype(np.uint8)


def split_image(width: int = 100, height: int = 60, bright_left: bool = True) -> Image.Image:
    """Half white, half black: the tiny model calls the white half a person."""
    array = np.zeros((height, width, 3), dtype=np.uint8)
    half = slice(0, width // 2) if bright_left else slice(width // 2, width)
    array[:, half] = 255
    return Image.fromarray(array, "RGB")


def encode(image: Image.Image, fmt: str = "PNG") -> bytes:
    """Image -> encoded bytes."""
    buf = io.BytesIO()
    image.save(buf, format=fmt)
    return buf.getvalue()


def png_header_only(width: int, height: int) -> bytes:
    """A valid PNG that declares ``width`` x ``height`` but carries one scanline: a decompression bomb header."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    idat = zlib.compress(b"\x00" * (1 + (width + 7) // 8))
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


def decode_png(data: bytes) -> Image.Image:
    """PNG bytes -> image, asserting it really is a PNG."""
    image = Image.open(io.BytesIO(data))
    assert image.format == "PNG"
    image.load()
    return image


@dataclass
class RunningServer:
    """A uvicorn server serving the app in a background thread."""

    url: str
    server: object
    thread: threading.Thread

    @property
    def service(self):
        return self.server.config.app.state.service

    def stop(self, timeout: float = 20.0) -> None:
        self.server.should_exit = True
        self.thread.join(timeout)
        assert not self.thread.is_alive(), "server thread did not stop"


def wait_ready(url: str, timeout: float = 20.0) -> None:
    """Poll readiness until 200 (fail after ``timeout``)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(httpx.TransportError):
            if httpx.get(f"{url}/v2/health/ready", timeout=2).status_code == 200:
                return
        time.sleep(0.05)
    raise AssertionError(f"{url} not ready after {timeout}s")


def start_server(settings, ready: bool = True, **app_kwargs) -> RunningServer:
    """Start a real server on a free port; wait for it to listen (and to be ready unless told not to).

    The socket is bound here and handed to uvicorn, so the port is known even if the server stops at once.
    """
    from personseg.serving.server import build_server

    sock = socket.create_server(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = build_server(settings.with_overrides(host="127.0.0.1", port=port), **app_kwargs)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, name="uvicorn-test", daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started and thread.is_alive():
        assert time.monotonic() < deadline, "server did not start"
        time.sleep(0.02)
    running = RunningServer(f"http://127.0.0.1:{port}", server, thread)
    if ready:
        wait_ready(running.url)
    return running


@contextlib.contextmanager
def running_server(settings, ready: bool = True, **app_kwargs) -> Iterator[RunningServer]:
    """``start_server`` that always stops the server."""
    running = start_server(settings, ready, **app_kwargs)
    try:
        yield running
    finally:
        running.stop()


def metric_value(text: str, name: str, labels: dict[str, str] | None = None) -> float:
    """One sample's value from Prometheus text (0.0 when absent)."""
    from prometheus_client.parser import text_string_to_metric_families

    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name and all(sample.labels.get(k) == v for k, v in (labels or {}).items()):
                return sample.value
    return 0.0
