"""Load-test the real server over HTTP and compare with the bare model's batched throughput.

The server runs as its own process (as in production, so the client's GIL does not slow it), on
127.0.0.1, fed encoded images through ``/v1/segment`` by a lean keep-alive client (``personseg.bench.http_load``:
the client's CPU time is taken from the same cores). The bare model's batch-8 throughput is
measured in the same run, in this process while the server sits idle, so the ratio says what HTTP,
decoding, pre/post-processing and batching cost on this machine. The server's own counters (``scrape``)
split that ratio into batching x contention x busy: how much smaller its batches were, how much slower
the model ran inside it than alone at that batch size, and how much of the time the model was running.

On a shared virtual machine the bare model's speed drifts by tens of per cent within minutes, so one
reference can flatter or condemn the server. ``rounds`` alternates the two: every round drives each
concurrency and then times the bare model, each level's ratio divides by its own round's reference,
and the summary is the median ratio over rounds with its range.

Each level also says where a request's time went (``personseg.serving.timeline``): the client's mean
latency, the part of it outside the app (HTTP parsing, sockets, the client itself) and, inside the app,
reading, decoding, hand-offs between threads, the wait for a batch, the model, rendering and the rest.
CPU time per request (the client's, the server's, and the bare model's per image) says what a level
could reach at best: client and server share the machine's cores with the model, so every CPU
millisecond outside the model is taken from it. The report carries the machine, its load, the date
and the command that reproduces it.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import logging
import math
import os
import resource
import shlex
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
from PIL import Image

from personseg.bench.thread_cpu import GROUPS as THREAD_GROUPS
from personseg.bench.thread_cpu import thread_cpu_s
from personseg.cpuinfo import cpu_info
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
    rounds: int = 1

    def command(self) -> str:
        """The ``personseg bench serve`` command line that measures this again."""
        args = ["personseg", "bench", "serve", "--model", self.model,
                "--concurrency", ",".join(map(str, self.concurrency)), "--requests", str(self.requests),
                "--threads", str(self.threads), "--max-batch", str(self.max_batch),
                "--batch-wait-ms", f"{self.batch_wait_ms:g}", "--output", self.output,
                "--bare-seconds", f"{self.bare_seconds:g}", "--rounds", str(self.rounds)]
        if self.images:
            args += ["--images", self.images]
        if self.image_size:
            args += ["--image-size", "x".join(map(str, self.image_size))]
        return shlex.join(args)


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
    round: int = 0  # which round (``BenchConfig.rounds``) measured it
    client_mean_ms: float = 0.0  # mean latency the client saw
    app_mean_ms: float = 0.0  # mean time of the /v1/segment route inside the server
    stages_ms: dict[str, float] = field(default_factory=dict)  # mean per answered request, by stage
    client_cpu_ms: float = 0.0  # CPU time of the client (this process) per request
    server_cpu_ms: float = 0.0  # CPU time of the server process per request, model included (0: unknown)
    server_threads_cpu_ms: dict[str, float] = field(default_factory=dict)  # that CPU by thread group (thread_cpu)

    @property
    def outside_ms(self) -> float:
        """Mean time outside the app: HTTP parsing, sockets and the client itself."""
        return self.client_mean_ms - self.app_mean_ms


@dataclass
class BenchReport:
    """Everything one run measured."""

    config: BenchConfig
    model_name: str
    inputs: str
    levels: list[LoadResult] = field(default_factory=list)  # every round's levels, in the order measured
    bare_rounds: list[dict[int, float]] = field(default_factory=list)  # per round: bare images/s by batch size
    bare_cpu_ms: list[dict[int, float]] = field(default_factory=list)  # per round: bare CPU ms per image by batch
    cpu: dict = field(default_factory=lambda: cpu_info().summary())  # the machine's model, cores and speed flags
    date: str = field(default_factory=lambda: datetime.now(timezone.utc).isoformat(timespec="seconds"))
    load: list[list[float]] = field(default_factory=list)  # 1, 5 and 15 min load averages before and after

    @property
    def bare_by_batch(self) -> dict[int, float]:
        """Bare images/s at each batch size timed, the median over rounds."""
        sizes = sorted({b for r in self.bare_rounds for b in r})
        return {b: float(np.median([r[b] for r in self.bare_rounds if b in r])) for b in sizes}

    @property
    def bare_batch8_images_per_s(self) -> float:
        """The bare model's batch-8 throughput, median over rounds (0 before it is timed)."""
        return self.bare_by_batch.get(8, 0.0)

    def bare_of(self, level: LoadResult) -> dict[int, float]:
        """The bare figures of the round that measured ``level``."""
        return self.bare_rounds[level.round] if level.round < len(self.bare_rounds) else {}

    def ratio(self, level: LoadResult) -> float:
        """Server throughput over the bare model's batch-8 throughput in the same round."""
        bare8 = self.bare_of(level).get(8, 0.0)
        return level.images_per_s / bare8 if bare8 else 0.0

    def ratios(self, concurrency: int) -> list[float]:
        """``ratio`` of every round's level at ``concurrency``, in round order."""
        return [self.ratio(lv) for lv in self.levels if lv.concurrency == concurrency]

    def p50_over_bare1(self, concurrency: int) -> list[float]:
        """Per round, p50 latency at ``concurrency`` minus the bare model's batch-1 latency, in ms."""
        return [lv.p50_ms - 1000.0 / self.bare_of(lv)[1] for lv in self.levels
                if lv.concurrency == concurrency and self.bare_of(lv).get(1)]

    def breakdown(self, level: LoadResult) -> tuple[float, float, float] | None:
        """(batching, contention, busy), whose product is ``ratio``; None without the counters.

        batching: bare at the server's mean batch (rounded) over bare at 8; contention: the model's
        images/s inside the server over bare at that batch; busy: the inference thread's time share.
        All from the level's own round.
        """
        own = self.bare_of(level)
        bare, bare8 = own.get(round(level.mean_batch)), own.get(8)
        if not (bare and bare8 and level.model_images_per_s):
            return None
        return bare / bare8, level.model_images_per_s / bare, level.busy

    def as_dict(self) -> dict:
        """JSON-ready form: per concurrency the median ratio over rounds (and each round's), with breakdowns."""
        out = asdict(self)
        out["command"] = self.config.command()
        for level, result in zip(out["levels"], self.levels):
            level["outside_ms"] = result.outside_ms
        out["bare_by_batch"] = self.bare_by_batch
        out["bare_batch8_images_per_s"] = self.bare_batch8_images_per_s
        levels = list(dict.fromkeys(lv.concurrency for lv in self.levels))
        out["ratios"] = {str(c): float(np.median(self.ratios(c))) for c in levels}
        out["round_ratios"] = {str(c): self.ratios(c) for c in levels}
        out["p50_over_bare_batch1_ms"] = {str(c): self.p50_over_bare1(c) for c in levels}
        out["breakdown"] = [dict(zip(("concurrency", "round", "batching", "contention", "busy"),
                                     (lv.concurrency, lv.round, *parts)))
                            for lv in self.levels if (parts := self.breakdown(lv))]
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
    where = root if directory else "the repository's datasets/real/images"  # no machine's path in a report
    desc = f"{len(bodies)} photos from {where} ({', '.join(f'{w}x{h}' for w, h in sorted(sizes))})"
    return bodies, desc


def own_cpu_s() -> float:
    """CPU seconds this process has used (user + system)."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def process_cpu_s(pid: int) -> float:
    """CPU seconds process ``pid`` has used, from ``/proc`` (0.0 where there is none)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime, stime (proc(5))


@contextlib.contextmanager
def server_process(config: BenchConfig, model_path: Path, threads: int):
    """``personseg serve`` in a child process on a free 127.0.0.1 port; yields its base URL and pid."""
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
            yield url, proc.pid
        finally:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(30)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()


async def _drive(url: str, bodies: list[bytes], concurrency: int, requests: int, output: str,
                 round_: int = 0, server_pid: int = 0) -> LoadResult:
    import httpx

    from personseg.bench.http_load import Connection, HttpError
    from personseg.bench.scrape import read_counters

    latencies: list[float] = []
    errors: list[str] = []
    path = f"/v1/segment?output={output}"
    connections = [Connection(url) for _ in range(concurrency)]

    async with httpx.AsyncClient(timeout=120) as client:  # for /metrics; the load goes through ``connections``
        async def worker(todo, connection: Connection, record: bool) -> None:  # each index in ``todo`` is sent once
            for i in todo:
                start = time.perf_counter()
                try:
                    status, answer = await asyncio.wait_for(connection.post(path, bodies[i % len(bodies)]), 120)
                    ok, why = status == 200, f"HTTP {status}: {answer[:200].decode(errors='replace')}"
                except (OSError, EOFError, asyncio.TimeoutError, HttpError) as exc:
                    ok, why = False, f"{type(exc).__name__}: {exc}"
                if record:
                    latencies.append(time.perf_counter() - start)
                    if not ok:
                        errors.append(why)

        warmup = iter(range(2 * concurrency))
        await asyncio.gather(*(worker(warmup, c, False) for c in connections))
        timed = iter(range(requests))
        before, segment_before = await read_counters(client, url)
        cpu = own_cpu_s(), process_cpu_s(server_pid) if server_pid else 0.0
        threads = thread_cpu_s(server_pid) if server_pid else {}
        start = time.perf_counter()
        await asyncio.gather(*(worker(timed, c, True) for c in connections))
        seconds = time.perf_counter() - start
        cpu = own_cpu_s() - cpu[0], (process_cpu_s(server_pid) if server_pid else 0.0) - cpu[1]
        threads_after = thread_cpu_s(server_pid) if server_pid else {}
        threads = {g: 1000.0 * (threads_after[g] - threads.get(g, 0.0)) / requests for g in threads_after}
        after, segment_after = await read_counters(client, url)
    for connection in connections:
        connection.close()
    used, segment = after - before, segment_after - segment_before
    lat_ms = np.asarray(latencies) * 1000.0
    ok = requests - len(errors)
    return LoadResult(concurrency, requests, len(errors), seconds, float(np.percentile(lat_ms, 50)),
                      float(np.percentile(lat_ms, 99)), ok / seconds, errors[0] if errors else "",
                      used.images / used.batches if used.batches else 0.0, used.seconds / seconds,
                      used.images / used.seconds if used.seconds else 0.0, round_, float(lat_ms.mean()),
                      segment.route_mean_ms(), segment.stage_means_ms(), 1000.0 * cpu[0] / requests,
                      1000.0 * cpu[1] / requests, threads)


class BareModel:
    """The served model loaded in this process, with the benchmark's photos preprocessed once."""

    def __init__(self, model_path: Path, bodies: list[bytes], threads: int) -> None:
        from personseg.imageops import to_input
        from personseg.runtime import load_predictor

        self.predictor = load_predictor(model_path, threads)
        size = self.predictor.info.image_size
        self.tensors = [to_input(Image.open(io.BytesIO(b)), size)[0] for b in bodies]

    def throughput(self, batches: tuple[int, ...] = (8,), min_seconds: float = 3.0) -> dict[int, float]:
        """Images/s of ``predictor.logits`` on batches of each size in ``batches``, nothing else.

        The CPU milliseconds each image took are kept in ``cpu_ms`` by batch size.
        """
        out, self.cpu_ms = {}, {}
        for batch in batches:
            inputs = np.stack([self.tensors[i % len(self.tensors)] for i in range(batch)])
            for _ in range(3):
                self.predictor.logits(inputs)
            runs, start, cpu = 0, time.perf_counter(), own_cpu_s()
            while runs < 5 or time.perf_counter() - start < min_seconds:
                self.predictor.logits(inputs)
                runs += 1
            out[batch] = runs * batch / (time.perf_counter() - start)
            self.cpu_ms[batch] = 1000.0 * (own_cpu_s() - cpu) / (runs * batch)
        return out


def run_bench(config: BenchConfig) -> BenchReport:
    """Serve; each round drives every concurrency level, then times the bare model while the server idles."""
    from personseg.modeldir import read_model_dir
    from personseg.uris import local_model

    if config.rounds < 1:
        raise UserError(f"--rounds {config.rounds}: must be at least 1")
    logging.getLogger("httpx").setLevel(logging.WARNING)  # one INFO line per request would swamp the table
    path = local_model(config.model)
    info = read_model_dir(path)
    threads = config.threads or cpu_quota()
    bodies, desc = load_inputs(config.images, config.image_size)
    report = BenchReport(config, f"{info.name} ({info.kind}, {info.precision}, {info.image_size}px)", desc)
    bare = BareModel(path, bodies, threads)
    report.load.append(list(os.getloadavg()))
    with server_process(config, path, threads) as (url, pid):
        for round_ in range(config.rounds):
            levels = [asyncio.run(_drive(url, bodies, c, config.requests, config.output, round_, pid))
                      for c in config.concurrency]
            report.levels += levels
            served = {round(lv.mean_batch) for lv in levels if lv.mean_batch >= 0.5}
            batches = tuple(sorted(served | {1, 8}, reverse=True))  # batch 8 first; 1 for the latency target
            report.bare_rounds.append(bare.throughput(batches, config.bare_seconds))
            report.bare_cpu_ms.append(bare.cpu_ms)
    report.load.append(list(os.getloadavg()))
    return report


def format_breakdown(report: BenchReport) -> list[str]:
    """Per level, where a request's time went, in mean milliseconds, and the CPU time it cost."""
    stages = list(dict.fromkeys(s for lv in report.levels for s in lv.stages_ms))
    lines = ["", "where a /v1/segment request's time went, mean ms: client = latency the client saw = outside the "
             "app (HTTP, sockets, the client) + the stages inside it; CPU ms per request of the client and the "
             "server process (and of its event loop, worker pool and model threads: personseg.bench.thread_cpu), "
             "and of the bare model per image at the server's mean batch (same round)",
             f"{'round':>5} {'concurrency':>11} {'client':>7} {'outside':>7} " + " ".join(f"{s:>10}" for s in stages)
             + f" {'cpu client':>10} {'cpu server':>10} {'loop':>6} {'pool':>6} {'model':>6} {'cpu model':>9}"]
    for lv in report.levels:
        bare_cpu = report.bare_cpu_ms[lv.round] if lv.round < len(report.bare_cpu_ms) else {}
        split = lv.server_threads_cpu_ms
        lines.append(f"{lv.round + 1:>5} {lv.concurrency:>11} {lv.client_mean_ms:>7.1f} {lv.outside_ms:>7.1f} "
                     + " ".join(f"{lv.stages_ms.get(s, 0.0):>10.2f}" for s in stages)
                     + f" {lv.client_cpu_ms:>10.2f} {lv.server_cpu_ms:>10.2f} "
                     + " ".join(f"{split[g]:>6.2f}" if g in split else f"{'-':>6}" for g in THREAD_GROUPS)
                     + f" {bare_cpu.get(round(lv.mean_batch), 0.0):>9.2f}")
    return lines


def format_latency(report: BenchReport) -> list[str]:
    """Per concurrency, the p50 latency over the bare model's batch-1 latency in the same round."""
    lines = []
    for c in dict.fromkeys(lv.concurrency for lv in report.levels):
        extra = report.p50_over_bare1(c)
        if extra:
            lines.append(f"concurrency {c}: p50 over the bare batch-1 latency median {np.median(extra):+.1f} ms (min "
                         f"{min(extra):+.1f}, max {max(extra):+.1f}) over {len(extra)} round(s)")
    return lines


def format_report(report: BenchReport) -> str:
    """A plain table for the terminal."""
    c = report.config
    load = " -> ".join(f"{a[0]:.2f}" for a in report.load) or "?"
    lines = [
        f"date: {report.date}; command: {c.command()}",
        f"cpu: {report.cpu.get('model', '?')}, {report.cpu.get('cores', '?')} core(s), speed flags: "
        f"{' '.join(report.cpu.get('flags', [])) or 'none'}",
        f"model: {report.model_name}",
        f"inputs: {report.inputs}",
        f"server: threads={c.threads or cpu_quota()} max_batch={c.max_batch} batch_wait_ms={c.batch_wait_ms:g} "
        f"output={c.output}; client and server share this machine's {cpu_quota()} CPU(s), load average "
        f"(1 min) {load} from start to end",
        "",
        f"{'round':>5} {'concurrency':>11} {'requests':>8} {'errors':>6} {'images/s':>9} {'p50 ms':>8} {'p99 ms':>8}"
        f" {'vs bare':>8} {'batch':>6} {'batching':>8} {'contention':>10} {'busy':>5} {'bare b8':>8}",
    ]
    for lv in report.levels:
        parts = report.breakdown(lv)
        split = " ".join(f"{v:>{w}.2f}" for v, w in zip(parts, (8, 10, 5))) if parts else " " * 25
        lines.append(f"{lv.round + 1:>5} {lv.concurrency:>11} {lv.requests:>8} {lv.errors:>6} {lv.images_per_s:>9.1f} "
                     f"{lv.p50_ms:>8.1f} {lv.p99_ms:>8.1f} {report.ratio(lv):>8.2f} {lv.mean_batch:>6.2f} {split} "
                     f"{report.bare_of(lv).get(8, 0.0):>8.1f}")
    bare = ", ".join(f"batch {b}: {v:.1f}" for b, v in sorted(report.bare_by_batch.items()))
    lines.append(f"\nbare model, same threads, images/s (median of {len(report.bare_rounds)} round(s)): {bare}")
    lines.append("vs bare = server images/s / bare at batch 8 in the same round = batching (bare at the server's mean "
                 "batch / bare at 8) x contention (the model's speed inside the server / bare at that batch) x busy "
                 "(share of the time the model was running)")
    for c in dict.fromkeys(lv.concurrency for lv in report.levels):
        ratios = report.ratios(c)
        lines.append(f"concurrency {c}: vs bare median {np.median(ratios):.2f} (min {min(ratios):.2f}, max "
                     f"{max(ratios):.2f}) over {len(ratios)} round(s)")
    lines += format_latency(report)
    lines += format_breakdown(report)
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
