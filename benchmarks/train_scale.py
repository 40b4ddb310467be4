"""Training at scale on one machine: memory, data-loader speed against the training step, 1 vs 2 ranks.

    PYTHONPATH=$PWD python benchmarks/train_scale.py --out runs/scale [--images 20000] [--unique 1000]

1. A dataset of ``--images`` samples at ``--image-size`` px, cached under ``--out``: ``--unique`` are drawn
   by ``personseg.data.synthetic`` and the rest are hard links to them under new ids (same decode cost,
   same streaming behaviour, seconds instead of an hour to build).
2. Peak memory of ``personseg train`` on it, the whole process tree (ranks and loader workers) sampled
   from /proc every 0.1 s, as RSS and PSS (PSS shares forked pages fairly); training is stopped after
   ``--memory-seconds`` (past the pre-scan of every sample and into the epoch's batches). Beside it,
   the old in-memory path (every image decoded into one array, then a float32 copy, as the fit loop did
   before streaming) on ``--old-images`` samples, and that figure scaled to ``--images``.
3. Data-loader images/s (decode + letterbox + augment to ``--size``) with 0, 1 and 2 workers, against the
   training step's images/s (forward + backward + AdamW at ``--width``/``--size``, batch 8, channels_last).
4. Training images/s of ``personseg train`` with 1 and 2 ranks on ``--rank-images`` samples (the second
   of two epochs: the first also pays one-off start-up such as the optimiser's first step).

Figures depend on the machine and on what else runs on it: this prints the CPU and the load average.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from personseg.bench.train_scale import (  # noqa: E402
    OLD_PATH,
    loader_rate,
    make_dataset,
    peak_memory,
    rank_subset,
    step_rate,
)
from personseg.cpuinfo import cpu_info  # noqa: E402


def main() -> None:
    """Run every measurement and print them."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", required=True, type=Path, help="cache folder for the datasets and models")
    ap.add_argument("--images", type=int, default=20000)
    ap.add_argument("--unique", type=int, default=1000)
    ap.add_argument("--image-size", type=int, default=512)
    ap.add_argument("--size", type=int, default=256)
    ap.add_argument("--width", type=int, default=32)
    ap.add_argument("--old-images", type=int, default=500)
    ap.add_argument("--memory-seconds", type=float, default=90.0)
    ap.add_argument("--loader-images", type=int, default=240)
    ap.add_argument("--rank-images", type=int, default=80)
    ap.add_argument("--parts", default="memory,loader,ranks",
                    help="which measurements to run (comma-separated: memory, loader, ranks)")
    args = ap.parse_args()
    parts = set(args.parts.split(","))
    if not parts or parts - {"memory", "loader", "ranks"}:
        ap.error(f"--parts {args.parts}: expected a comma-separated subset of memory, loader, ranks")
    if args.rank_images < 18:  # the rank subset keeps 8 val and 8 test images; training needs 2 or more
        ap.error(f"--rank-images {args.rank_images}: must be at least 18 (8 val, 8 test, the rest train)")
    args.out.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    info = cpu_info().summary()
    print(f"CPU: {info['model']}; flags {', '.join(info['flags'])}; {info['cores']} usable cores; "
          f"load average {os.getloadavg()[0]:.1f} at start (figures are noisy when it exceeds the cores)")
    start = time.perf_counter()
    root = make_dataset(args.out, args.images, args.unique, args.image_size)
    print(f"dataset: {args.images} images at {args.image_size}px ({args.unique} drawn, the rest hard links) "
          f"ready in {time.perf_counter() - start:.0f}s: {root}")

    train = [sys.executable, "-m", "personseg", "train", "--size", str(args.size), "--width", str(args.width),
             "--epochs", "1"]
    if "memory" in parts:
        memory(args, root, train, env)
    if "loader" in parts:
        loader(args, root)
    if "ranks" in parts:
        ranks(args, root, train, env)


def memory(args: argparse.Namespace, root: Path, train: list[str], env: dict[str, str]) -> None:
    """Peak memory of streaming training against the old in-memory path (item 2 of the docstring)."""
    mem = peak_memory([*train, "--data", str(root), "--threads", "1", "--workers", "2", "--out",
                       str(args.out / "model-memory")], args.memory_seconds, env)
    print(f"streaming train, {args.images} images: peak tree RSS {mem['rss_gib']:.2f} GiB, PSS {mem['pss_gib']:.2f} "
          f"GiB over {mem['processes']} process(es) (1 thread, 2 loader workers), first {args.memory_seconds:.0f}s "
          "(goal < 3 GiB)")
    half, full = args.old_images // 2, args.old_images
    old = {n: peak_memory([sys.executable, "-c", OLD_PATH, str(rank_subset(root, args.out, n)), str(args.size)],
                          None, env)["rss_gib"] for n in (half, full)}
    per_image = (old[full] - old[half]) / (full - half)
    print(f"old in-memory path: peak RSS {old[half]:.2f} GiB at {half} images, {old[full]:.2f} GiB at {full}: "
          f"{per_image * 1024:.2f} MiB per image, so ~{old[full] + per_image * (args.images - full):.1f} GiB "
          f"at {args.images} images (extrapolated)")


def loader(args: argparse.Namespace, root: Path) -> None:
    """Data-loader images/s against the training step's (item 3)."""
    steps = {t: step_rate(args.width, args.size, t) for t in sorted({1, len(os.sched_getaffinity(0))})}
    for threads, rate in steps.items():
        print(f"training step w{args.width}/{args.size}px, batch 8, {threads} thread(s): {rate:.2f} images/s")
    step = max(steps.values())
    for workers in (0, 1, 2):
        rate = loader_rate(root, args.size, args.loader_images, workers)
        print(f"data loader {args.image_size}px -> {args.size}px with augmentation, {workers} worker(s): "
              f"{rate:.1f} images/s ({rate / step:.1f}x the training step)")


def ranks(args: argparse.Namespace, root: Path, train: list[str], env: dict[str, str]) -> None:
    """Training images/s with 1 and 2 ranks (item 4)."""
    sub = rank_subset(root, args.out, args.rank_images)
    for nproc in (1, 2):
        out = args.out / f"model-ranks-{nproc}"
        cmd = [*train[:-1], "2", "--data", str(sub), "--nproc", str(nproc), "--out", str(out)]
        subprocess.run(["rm", "-rf", str(out), f"{out}.ckpt"], check=True)
        begun = time.perf_counter()
        done = subprocess.run(cmd, env=env, capture_output=True, text=True)
        if done.returncode:
            raise SystemExit(done.stderr[-3000:])
        seconds = json.loads((out / "metrics.json").read_text())["history"][-1]["seconds"]
        print(f"personseg train --nproc {nproc}: {args.rank_images - 16} train images in {seconds:.1f}s (epoch 2 "
              f"(incl. 8 val images) = {(args.rank_images - 16) / seconds:.1f} images/s; "
              f"{time.perf_counter() - begun:.0f}s with start-up")


if __name__ == "__main__":
    main()
