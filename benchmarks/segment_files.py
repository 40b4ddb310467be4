"""``personseg segment`` over a folder against the bare model: images per second on this machine.

    PYTHONPATH=$PWD python benchmarks/segment_files.py --model runs/lean2-int8 --count 64

Writes ``--count`` JPEGs (the committed real photographs, resized to ``--width`` x ``--height`` and repeated)
into a temporary folder, then times, each ``--rounds`` times (median reported):

- ``bare model``: only the runtime on ready (N, 3, S, S) batches of the model's batch size;
- ``segment --output mask|cutout``: the whole command's work through ``segment_all`` in the process (read,
  decode, letterbox, the same model, map back, render, PNG encode, atomic write), with ``--force``.

The difference is what reading, pre/post-processing and writing cost per image at that photo size.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from personseg.bench.segment_files import bare_model, write_photos  # noqa: E402
from personseg.cpuinfo import cpu_info  # noqa: E402
from personseg.segment.engine import LocalEngine  # noqa: E402
from personseg.segment.inputs import gather  # noqa: E402
from personseg.segment.run import segment_all  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True, help="saved-model directory, s3:// or models:/")
    parser.add_argument("--count", type=int, default=64)
    parser.add_argument("--width", type=int, default=640)
    parser.add_argument("--height", type=int, default=480)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    print(f"cpu: {cpu_info().summary()}  load average at start: {os.getloadavg()[0]:.1f}")
    with tempfile.TemporaryDirectory() as tmp:
        photos, out = Path(tmp) / "photos", Path(tmp) / "out"
        photos.mkdir()
        write_photos(photos, args.count, (args.width, args.height))
        sources = gather([str(photos)])
        engines = {kind: LocalEngine(args.model, kind, None, args.threads) for kind in ("mask", "cutout")}
        first = engines["mask"]
        print(f"model: {first.description}, {first.model.image_size} px, batch {first.batch_size}, "
              f"{args.threads} threads; {args.count} JPEGs of {args.width}x{args.height}")
        bare_model(first, first.batch_size)  # warm-up
        rows = {"bare model": [bare_model(first, args.count) for _ in range(args.rounds)]}
        for kind, engine in engines.items():
            segment_all(sources[: engine.batch_size], out, engine, force=True)  # warm-up
            rows[f"segment --output {kind}"] = [segment_all(sources, out, engine, force=True).images_per_second
                                                for _ in range(args.rounds)]
    base = statistics.median(rows["bare model"])
    for name, values in rows.items():
        rate = statistics.median(values)
        print(f"{name:<26} {rate:8.1f} images/s  ({rate / base:.0%} of the bare model; rounds: "
              + ", ".join(f"{v:.1f}" for v in values) + ")")
    print(f"load average at end: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
