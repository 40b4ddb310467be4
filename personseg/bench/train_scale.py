"""Training at scale on one machine, the pieces of ``benchmarks/train_scale.py``.

A large dataset made of hard links, the peak memory of a process tree, the data loader's and the
training step's images/s, and the rank subsets.
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import time
from pathlib import Path


def make_dataset(out: Path, images: int, unique: int, size: int) -> Path:
    """``images`` samples, ``unique`` of them drawn, the rest hard links; reused when already there."""
    from personseg.data.synthetic import write_synthetic

    root = out / f"data-{images}-{unique}-{size}"
    if (root / "images").is_dir() and len(list((root / "images").iterdir())) == images:
        return root
    base = out / f"unique-{unique}-{size}"
    if not base.is_dir():
        write_synthetic(base, unique, size, seed=7)
    tmp = out / f".tmp-{root.name}"
    for part, ext in (("images", "jpg"), ("masks", "png")):
        (tmp / part).mkdir(parents=True, exist_ok=True)
        for n in range(images):
            target = tmp / part / f"s{n:06d}.{ext}"
            if not target.exists():
                os.link(base / part / f"synth{n % unique:05d}.{ext}", target)
    tmp.rename(root)
    return root


def _tree(pid: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(ppid, []).append(int(entry.name))
    found, todo = [], [pid]
    while todo:
        p = todo.pop()
        found.append(p)
        todo += children.get(p, [])
    return found


def _kib(path: Path, key: str) -> int:
    try:
        for line in path.read_text().splitlines():
            if line.startswith(key):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def peak_memory(cmd: list[str], seconds: float | None, env: dict[str, str]) -> dict[str, float]:
    """Run ``cmd``; peak RSS and PSS (GiB) of its process tree, sampled every 0.1 s, stopped after ``seconds``."""
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    peak_rss = peak_pss = 0
    procs = 0
    start = time.monotonic()
    while proc.poll() is None:
        pids = _tree(proc.pid)
        procs = max(procs, len(pids))
        peak_rss = max(peak_rss, sum(_kib(Path(f"/proc/{p}/status"), "VmRSS:") for p in pids))
        peak_pss = max(peak_pss, sum(_kib(Path(f"/proc/{p}/smaps_rollup"), "Pss:") for p in pids))
        if seconds is not None and time.monotonic() - start > seconds:
            for p in reversed(_tree(proc.pid)):  # children first, then the process itself
                try:
                    os.kill(p, 15)
                except ProcessLookupError:
                    pass
            break
        time.sleep(0.1)
    _, err = proc.communicate()
    if seconds is None and proc.returncode:
        raise SystemExit(f"{cmd} failed:\n{err[-3000:]}")
    gib = 1024 * 1024
    return {"rss_gib": peak_rss / gib, "pss_gib": peak_pss / gib, "processes": procs,
            "largest_child_maxrss_gib": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / gib}


OLD_PATH = """
import sys, torch
from personseg.data.loading import load_dataset
data = load_dataset(sys.argv[1], int(sys.argv[2]))
images = torch.from_numpy(data.images).permute(0, 3, 1, 2).float().div_(255.0)  # the old fit loop's to_tensors
print(len(data.ids))
"""


def loader_rate(root: Path, size: int, count: int, workers: int) -> float:
    """Images/s through the training loader (decode, letterbox, augment) with ``workers`` processes."""
    from personseg.data.augment import AugmentConfig
    from personseg.data.prescan import prescan
    from personseg.data.stream import EpochSampler, StreamDataset, make_loader

    data = prescan(root, size)
    data = data.subset(data.ids[:count])
    sampler = EpochSampler(range(count))
    loader = make_loader(StreamDataset(data, AugmentConfig(), seed=0), sampler, 8, workers)
    sampler.set_epoch(1)
    iter(loader)  # worker start-up is not throughput
    start = time.perf_counter()
    seen = sum(len(batch[2]) for batch in loader)
    return seen / (time.perf_counter() - start)


def step_rate(width: int, size: int, threads: int, steps: int = 6) -> float:
    """Images/s of the training step alone (batch 8, channels_last, AdamW) on random inputs."""
    import torch

    from personseg.models import build_model
    from personseg.training.loss import seg_loss

    torch.set_num_threads(threads)
    model = build_model("unet", decoder="bilinear", width=width).to(memory_format=torch.channels_last)
    opt = torch.optim.AdamW(model.parameters())
    x = torch.rand(8, 3, size, size).contiguous(memory_format=torch.channels_last)
    y = (torch.rand(8, 1, size, size) > 0.5).to(torch.uint8)
    for n in range(steps + 1):
        if n == 1:
            start = time.perf_counter()  # the first step warms up
        loss = seg_loss(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
    return 8 * steps / (time.perf_counter() - start)


def rank_subset(root: Path, out: Path, count: int) -> Path:
    """The first ``count`` samples with a split: 8 val, 8 test, the rest train (links, no copies)."""
    sub = out / f"subset-{count}"
    if not sub.is_dir():
        for part, ext in (("images", "jpg"), ("masks", "png")):
            (sub / part).mkdir(parents=True)
            for n in range(count):
                os.link(root / part / f"s{n:06d}.{ext}", sub / part / f"s{n:06d}.{ext}")
        ids = [f"s{n:06d}" for n in range(count)]
        (sub / "split.json").write_text(json.dumps({"train": ids[16:], "val": ids[:8], "test": ids[8:16]}))
    return sub
