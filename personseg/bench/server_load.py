"""The model server under heavy load, the pieces of ``benchmarks/server_load.py``.

A stand-in model, big and small photos, bursts of clients, trickling and stalled connections, and the
server's peak RSS. Each experiment runs against a fresh ``personseg serve`` child process on 127.0.0.1 (so its peak RSS,
``VmHWM``, is its own).
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
from PIL import Image, ImageDraw

from personseg.netutil import free_port

MIB = 1024 * 1024
POD_LIMIT = 1536 * MIB  # manifests/base/deployment.yaml resources.limits.memory


def stand_in_model(directory: Path, image_size: int = 256) -> Path:
    """A real ONNX model (1x1 Conv 3->1, dynamic batch) saved as a personseg model directory."""
    import onnx
    from onnx import TensorProto, helper

    from personseg.modeldir import write_config

    directory.mkdir(parents=True, exist_ok=True)
    weight = helper.make_tensor("w", TensorProto.FLOAT, [1, 3, 1, 1], [20.0 / 3] * 3)
    bias = helper.make_tensor("b", TensorProto.FLOAT, [1], [-10.0])
    node = helper.make_node("Conv", ["input", "w", "b"], ["logits"], kernel_shape=[1, 1])
    shape = ["N", 3, image_size, image_size]
    graph = helper.make_graph([node], "stand-in", [helper.make_tensor_value_info("input", TensorProto.FLOAT, shape)],
                              [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["N", 1, *shape[2:]])],
                              initializer=[weight, bias])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    onnx.save(model, str(directory / "model.onnx"))
    write_config(directory, kind="onnx", precision="fp32", weights="model.onnx", image_size=image_size,
                 arch={"name": "stand-in"})
    return directory


def photo(width: int, height: int, quality: int = 90) -> bytes:
    """A JPEG with bands, a bright figure and noise, so it decodes like a photo of that size."""
    rng = np.random.default_rng(0)
    img = Image.fromarray(rng.integers(0, 40, (height // 8, width // 8, 3), dtype=np.uint8)).resize((width, height))
    draw = ImageDraw.Draw(img)
    for x in range(0, width, width // 12):
        draw.rectangle([x, 0, x + width // 30, height], fill=(60, 90, 120))
    draw.ellipse([width // 3, height // 6, 2 * width // 3, 5 * height // 6], fill=(230, 200, 170))
    out = io.BytesIO()
    img.save(out, format="JPEG", quality=quality)
    return out.getvalue()


def peak_rss(pid: int) -> int:
    """The process's peak resident memory (``VmHWM``) in bytes."""
    status = Path(f"/proc/{pid}/status").read_text()
    return int(re.search(r"VmHWM:\s+(\d+) kB", status).group(1)) * 1024


@contextlib.contextmanager
def server(model: Path, env: dict[str, str]) -> Iterator[tuple[str, subprocess.Popen]]:
    """``personseg serve`` in a child process on a free 127.0.0.1 port, stopped by SIGTERM afterwards."""
    port = free_port()
    cmd = [sys.executable, "-m", "personseg", "serve", "--model", str(model), "--host", "127.0.0.1",
           "--port", str(port), "--threads", "1"]
    with tempfile.TemporaryFile() as log:
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env={**os.environ, **env})
        url = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 120
            while True:
                if proc.poll() is not None or time.monotonic() > deadline:
                    log.seek(0)
                    raise SystemExit(f"server did not come up:\n{log.read().decode(errors='replace')}")
                with contextlib.suppress(httpx.TransportError):
                    if httpx.get(f"{url}/v2/health/ready", timeout=2).status_code == 200:
                        break
                time.sleep(0.1)
            yield url, proc
        finally:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(60)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


async def burst(url: str, body: bytes, clients: int, path: str) -> list[tuple[int, float]]:
    """``clients`` requests at once, each on its own connection; (status, seconds) of each (0: failed)."""
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=0)
    async with httpx.AsyncClient(base_url=url, timeout=300, limits=limits) as client:
        async def one() -> tuple[int, float]:
            start = time.perf_counter()
            try:
                response = await client.post(path, content=body, headers={"content-type": "image/jpeg"})
            except httpx.TransportError:
                return 0, time.perf_counter() - start
            return response.status_code, time.perf_counter() - start

        return list(await asyncio.gather(*(one() for _ in range(clients))))


def summary(name: str, results: list[tuple[int, float]], rss_before: int, rss_peak: int, limit: int | None) -> dict:
    """Counts by status, the 503 share, latency percentiles of the 200s and the 503s, peak RSS."""
    statuses = [s for s, _ in results]
    ok = [t for s, t in results if s == 200]
    busy = [t for s, t in results if s == 503]

    def pct(values: list[float], q: float) -> float | None:
        return round(float(np.percentile(values, q)), 3) if values else None

    return {"experiment": name, "requests": len(results),
            "statuses": {str(s): statuses.count(s) for s in sorted(set(statuses))},
            "share_503": round(len(busy) / len(results), 3),
            "served_p50_s": pct(ok, 50), "served_p99_s": pct(ok, 99), "refused_p99_s": pct(busy, 99),
            "rss_before_mib": round(rss_before / MIB, 1), "peak_rss_mib": round(rss_peak / MIB, 1),
            "memory_limit_mib": round(limit / MIB) if limit else None,
            "under_limit": rss_peak < limit if limit else None}


async def held_for(url: str, head: bytes, body: bytes, trickle_s: float, cap_s: float) -> tuple[float, bytes]:
    """Open a connection, send ``head`` and ``body``, then a byte every ``trickle_s`` (0: none) until closed.

    Returns how long the server kept the connection (``cap_s`` if it never closed it) and its reply.
    """
    host, port = url.removeprefix("http://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    start = time.perf_counter()
    writer.write(head + body)
    reply = b""

    async def read_all() -> None:
        nonlocal reply
        while chunk := await reader.read(65536):
            reply += chunk

    reading = asyncio.ensure_future(read_all())
    try:
        while time.perf_counter() - start < cap_s and not reading.done():
            await asyncio.wait([reading], timeout=trickle_s or 0.5)
            if trickle_s and not reading.done():
                writer.write(b"a")
                with contextlib.suppress(ConnectionError):
                    await writer.drain()
    except ConnectionError:
        pass
    seconds = time.perf_counter() - start
    reading.cancel()
    writer.close()
    return min(seconds, cap_s), reply


async def slow(url: str, trickling: int, stalled: int, cap_s: float) -> dict:
    """Trickled headers and stalled bodies at once: how long the server held them, and what it answered."""
    head = b"POST /v1/segment HTTP/1.1\r\nHost: bench\r\nX-Slow: "
    stall_head = b"POST /v1/segment HTTP/1.1\r\nHost: bench\r\nContent-Length: 20000000\r\n\r\n"
    results = await asyncio.gather(*(held_for(url, head, b"", 5.0, cap_s) for _ in range(trickling)),
                                   *(held_for(url, stall_head, bytes(15_000_000), 0.0, cap_s)
                                     for _ in range(stalled)))
    trickled, stalls = results[:trickling], results[trickling:]

    def spread(values: list[float]) -> list[float]:
        return [round(float(np.percentile(values, q)), 1) for q in (0, 50, 100)] if values else []

    return {"trickled_headers_held_s_min_median_max": spread([t for t, _ in trickled]),
            "stalled_bodies_held_s_min_median_max": spread([t for t, _ in stalls]),
            "stalled_replies": sorted({r.split(b"\r\n", 1)[0].decode() or "closed" for _, r in stalls}),
            "never_closed": sum(t >= cap_s for t, _ in results)}


def rss(pid: int) -> int:
    """The process's resident memory now."""
    return int(re.search(r"VmRSS:\s+(\d+) kB", Path(f"/proc/{pid}/status").read_text()).group(1)) * 1024
