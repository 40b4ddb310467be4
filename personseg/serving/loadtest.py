"""Load-test the real server over HTTP and compare with the bare model's batched throughput.

The server runs as its own process (as in production, so the client's GIL does not slow it), on
127.0.0.1, fed encoded images through ``/v1/segment``. The bare model's batch-8 throughput is
measured in the same run, after the server has stopped, so the ratio says what HTTP, decoding,
pre/post-processing and batching cost on this machine. The server's own counters (``scrape``) split
that ratio into batching x contention x busy: how much smaller its batches were, how much slower the
model ran inside it than alone at that batch size, and how much of the time the model was running.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import logging
import math
import os
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image

from personseg.cpuquota import cpu_quota
from personseg.errors import UserError
from personseg.netutil import free_port

SUFFIXES = (".jpg", ".jpeg", ".png", ".webp", ".bmp")
REPO_PHOTOS = Path(__file__).resolve().parents[2] / "datasets" / "real" / "images"


@dataclass(frozen=True)
class BenchConfig:
    """What to measure; printed with the results so a run can be repeated."""

    model: str
    concurrency: tuple[int, ...] = (1, 8, 32)
    requests: int = 200
    images: str = ""
    image_size: tuple[int, int] | None = None
    threads: int = 0
    max_batch: int = 8
    batch_wait_ms: float = 5.0
    output: str = "mask"
    bare_seconds: float = 3.0


@dataclass(frozen=True)
class LoadResult:
    """One concurrency level."""

    concurrency: int
    requests: int
    errors: int
    seconds: float
    p50_ms: float
    p99_ms: float
    images_per_s: float
    first_error: str = ""
    mean_batch: float = 0.0  # images per inference call, from the server's counters
    busy: float = 0.0  # fraction of the timed wall time the inference thread spent in the model
    model_images_per_s: float = 0.0  # images per second of model time inside the server


@dataclass
class BenchReport:
    """Everything one run measured."""

    config: BenchConfig
    model_name: str
    inputs: str
    levels: list[LoadResult] = field(default_factory=list)
    bare_by_batch: dict[int, float] = field(default_factory=dict)  # bare images/s at each batch size timed

    @property
    def bare_batch8_images_per_s(self) -> float:
        """The bare model's batch-8 throughput, the reference every ratio divides by (0 before it is timed)."""
        return self.bare_by_batch.get(8, 0.0)

    def ratio(self, level: LoadResult) -> float:
        """Server throughput over the bare model's batch-8 throughput."""
        return level.images_per_s / self.bare_batch8_images_per_s if self.bare_batch8_images_per_s else 0.0

    def breakdown(self, level: LoadResult) -> tuple[float, float, float] | None:
        """(batching, contention, busy), whose product is ``ratio``; None without the counters.

        batching: bare at the server's mean batch (rounded) over bare at 8; contention: the model's
        images/s inside the server over bare at that batch; busy: the inference thread's time share.
        """
        bare = self.bare_by_batch.get(round(level.mean_batch))
        if not (bare and self.bare_batch8_images_per_s and level.model_images_per_s):
            return None
        return bare / self.bare_batch8_images_per_s, level.model_images_per_s / bare, level.busy

    def as_dict(self) -> dict:
        """JSON-ready form, ratios and their breakdown included."""
        out = asdict(self)
        out["bare_batch8_images_per_s"] = self.bare_batch8_images_per_s
        out["ratios"] = {str(lv.concurrency): self.ratio(lv) for lv in self.levels}
        out["breakdown"] = {str(lv.concurrency): dict(zip(("batching", "contention", "busy"), parts))
                            for lv in self.levels if (parts := self.breakdown(lv))}
        return out


def load_inputs(directory: str, size: tuple[int, int] | None) -> tuple[list[bytes], str]:
    """Encoded request bodies from a folder of photos (or a dataset's ``images/``); re-encoded if resized."""
    root = Path(directory) if directory else REPO_PHOTOS
    if (root / "images").is_dir():
        root = root / "images"
    if not root.is_dir():
        raise UserError(f"--images {root}: no such directory (give a folder of JPEG/PNG photos)")
    files = sorted(p for p in root.iterdir() if p.suffix.lower() in SUFFIXES)
    if not files:
        raise UserError(f"--images {root}: no {'/'.join(SUFFIXES)} files")
    bodies = []
    for path in files:
        if size is None:
            bodies.append(path.read_bytes())
            continue
        buf = io.BytesIO()
        Image.open(path).convert("RGB").resize(size, Image.BILINEAR).save(buf, format="JPEG", quality=90)
        bodies.append(buf.getvalue())
    sizes = {Image.open(io.BytesIO(b)).size for b in bodies}
    desc = f"{len(bodies)} photos from {root} ({', '.join(f'{w}x{h}' for w, h in sorted(sizes))})"
    return bodies, desc


@contextlib.contextmanager
def server_process(config: BenchConfig, model_path: Path, threads: int):
    """``personseg serve`` in a child process on a free 127.0.0.1 port; yields its base URL."""
    import httpx

    port = free_port()
    cmd = [sys.executable, "-m", "personseg", "serve", "--model", str(model_path), "--host", "127.0.0.1",
           "--port", str(port), "--threads", str(threads), "--max-batch", str(config.max_batch),
           "--batch-wait-ms", str(config.batch_wait_ms), "--max-pixels", str(10**9 // 20)]
    with tempfile.TemporaryFile() as log:
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env={**os.environ, "PYTHONUNBUFFERED": "1"})
        url = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 120
            while True:
                if proc.poll() is not None:
                    log.seek(0)
                    raise UserError(f"server exited with {proc.returncode}:\n{log.read().decode(errors='replace')}")
                with contextlib.suppress(httpx.TransportError):
                    if httpx.get(f"{url}/v2/health/ready", timeout=2).status_code == 200:
                        break
                if time.monotonic() > deadline:
                    raise UserError("server did not become ready within 120 s")
                time.sleep(0.1)
            yield url
        finally:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(30)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()


async def _drive(url: str, bodies: list[bytes], concurrency: int, requests: int, output: str) -> LoadResult:
    import httpx

    from personseg.serving.scrape import read_counters

    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    latencies: list[float] = []
    errors: list[str] = []
    endpoint = f"{url}/v1/segment?output={output}"
    headers = {"content-type": "application/octet-stream"}

    async with httpx.AsyncClient(limits=limits, timeout=120) as client:
        async def worker(todo, record: bool) -> None:  # workers share ``todo``: each index is sent once
            for i in todo:
                start = time.perf_counter()
                try:
                    r = await client.post(endpoint, content=bodies[i % len(bodies)], headers=headers)
                    ok, why = r.status_code == 200, f"HTTP {r.status_code}: {r.text[:200]}"
                except httpx.HTTPError as exc:
                    ok, why = False, f"{type(exc).__name__}: {exc}"
                if record:
                    latencies.append(time.perf_counter() - start)
                    if not ok:
                        errors.append(why)

        warmup = iter(range(2 * concurrency))
        await asyncio.gather(*(worker(warmup, False) for _ in range(concurrency)))
        timed = iter(range(requests))
        before = await read_counters(client, url)
        start = time.perf_counter()
        await asyncio.gather(*(worker(timed, True) for _ in range(concurrency)))
        seconds = time.perf_counter() - start
        used = await read_counters(client, url) - before
    lat_ms = np.asarray(latencies) * 1000.0
    ok = requests - len(errors)
    return LoadResult(concurrency, requests, len(errors), seconds, float(np.percentile(lat_ms, 50)),
                      float(np.percentile(lat_ms, 99)), ok / seconds, errors[0] if errors else "",
                      used.images / used.batches if used.batches else 0.0, used.seconds / seconds,
                      used.images / used.seconds if used.seconds else 0.0)


def bare_throughput(model_path: Path, bodies: list[bytes], threads: int, batches: tuple[int, ...] = (8,),
                    min_seconds: float = 3.0) -> dict[int, float]:
    """Images/s of ``predictor.logits`` on batches of each size in ``batches`` of preprocessed photos, nothing else."""
    from personseg.imageops import to_input
    from personseg.runtime import load_predictor

    predictor = load_predictor(model_path, threads)
    size = predictor.info.image_size
    tensors = [to_input(Image.open(io.BytesIO(b)), size)[0] for b in bodies]
    out = {}
    for batch in batches:
        inputs = np.stack([tensors[i % len(tensors)] for i in range(batch)])
        for _ in range(3):
            predictor.logits(inputs)
        runs, start = 0, time.perf_counter()
        while runs < 5 or time.perf_counter() - start < min_seconds:
            predictor.logits(inputs)
            runs += 1
        out[batch] = runs * batch / (time.perf_counter() - start)
    return out


def run_bench(config: BenchConfig) -> BenchReport:
    """Serve, drive every concurrency level, stop, then time the bare model."""
    from personseg.modeldir import read_model_dir
    from personseg.uris import local_model

    logging.getLogger("httpx").setLevel(logging.WARNING)  # one INFO line per request would swamp the table
    path = local_model(config.model)
    info = read_model_dir(path)
    threads = config.threads or cpu_quota()
    bodies, desc = load_inputs(config.images, config.image_size)
    report = BenchReport(config, f"{info.name} ({info.kind}, {info.precision}, {info.image_size}px)", desc)
    with server_process(config, path, threads) as url:
        for concurrency in config.concurrency:
            report.levels.append(asyncio.run(_drive(url, bodies, concurrency, config.requests, config.output)))
    served = {round(lv.mean_batch) for lv in report.levels if lv.mean_batch >= 0.5}
    batches = tuple(sorted(served | {8}, reverse=True))  # batch 8 first, on the freshly loaded model
    report.bare_by_batch = bare_throughput(path, bodies, threads, batches, config.bare_seconds)
    return report


def format_report(report: BenchReport) -> str:
    """A plain table for the terminal."""
    c = report.config
    lines = [
        f"model: {report.model_name}",
        f"inputs: {report.inputs}",
        f"server: threads={c.threads or cpu_quota()} max_batch={c.max_batch} batch_wait_ms={c.batch_wait_ms:g} "
        f"output={c.output}; client and server share this machine's {cpu_quota()} CPU(s)",
        "",
        f"{'concurrency':>11} {'requests':>8} {'errors':>6} {'images/s':>9} {'p50 ms':>8} {'p99 ms':>8} {'vs bare':>8}"
        f" {'batch':>6} {'batching':>8} {'contention':>10} {'busy':>5}",
    ]
    for lv in report.levels:
        parts = report.breakdown(lv)
        split = " ".join(f"{v:>{w}.2f}" for v, w in zip(parts, (8, 10, 5))) if parts else ""
        lines.append(f"{lv.concurrency:>11} {lv.requests:>8} {lv.errors:>6} {lv.images_per_s:>9.1f} "
                     f"{lv.p50_ms:>8.1f} {lv.p99_ms:>8.1f} {report.ratio(lv):>8.2f} {lv.mean_batch:>6.2f} {split}")
    bare = ", ".join(f"batch {b}: {v:.1f}" for b, v in sorted(report.bare_by_batch.items()))
    lines.append(f"\nbare model, same threads, images/s: {bare}")
    lines.append("vs bare = batching (bare at the server's mean batch / bare at 8) x contention (the model's speed "
                 "inside the server / bare at that batch) x busy (share of the time the model was running)")
    for lv in report.levels:
        if lv.errors:
            lines.append(f"concurrency {lv.concurrency}: first error: {lv.first_error}")
    return "\n".join(lines)


def parse_size(text: str) -> tuple[int, int]:
    """``640x480`` -> (640, 480)."""
    try:
        w, h = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise UserError(f"--image-size {text!r}: expected WIDTHxHEIGHT, e.g. 640x480") from None
    if w < 1 or h < 1 or math.prod((w, h)) > 50_000_000:
        raise UserError(f"--image-size {text!r}: out of range")
    return w, h
