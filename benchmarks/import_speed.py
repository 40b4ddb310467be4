"""Time ``personseg data import`` on a generated 5,000-image dataset (COCO-style, or RGBA mattes).

``--format coco``: each image is a small JPEG (320x240 by default) with 1-3 person polygons; every fifth
also has a crowd region (uncompressed RLE) and every tenth a dog. ``--format matte``: each image is an
RGBA PNG of the same size whose alpha is a soft-edged person (the picture itself must be re-encoded,
since its alpha is dropped). The dataset is written to a temp dir (or --work), the import is timed on its
own, and images/s is printed (per wall-clock second, and per second of this process's CPU time, which
other load on a shared machine disturbs less) with the CPU it ran on. Run:
`.venv/bin/python benchmarks/import_speed.py [--format matte]` (target: at least 50 images/s).
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from pathlib import Path

from personseg.bench.import_speed import generate, generate_mattes
from personseg.cli import main as personseg
from personseg.cpuinfo import cpu_info


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--format", choices=("coco", "matte"), default="coco")
    p.add_argument("--count", type=int, default=5000)
    p.add_argument("--width", type=int, default=320)
    p.add_argument("--height", type=int, default=240)
    p.add_argument("--size", type=int, help="also pass --size to the import (re-encodes every picture)")
    p.add_argument("--work", type=Path,
                   help="folder for the generated data, kept and reused by the next run (default: a temp dir, removed)")
    args = p.parse_args()
    work = args.work or Path(tempfile.mkdtemp(prefix="personseg-import-bench-"))
    try:
        start = time.perf_counter()
        make = generate if args.format == "coco" else generate_mattes
        data = work / f"{args.format}-{args.count}-{args.width}x{args.height}"
        if data.is_dir():
            print(f"reusing {data}")
        else:
            make(data.with_name(f"{data.name}.tmp"), args.count, args.width, args.height)
            data.with_name(f"{data.name}.tmp").rename(data)
            print(f"generated {args.count} images in {time.perf_counter() - start:.1f} s")
        src = data / "instances.json" if args.format == "coco" else data
        out = Path(tempfile.mkdtemp(prefix="import-", dir=work)) / "dataset"
        flags = ["--size", str(args.size)] if args.size else []
        start, cpu = time.perf_counter(), time.process_time()
        code = personseg(["data", "import", "--format", args.format, str(src), str(out), *flags])
        seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
        shutil.rmtree(out.parent)
        if code:
            raise SystemExit(code)
        print(f"import --format {args.format}: {args.count} images ({args.width}x{args.height}) in {seconds:.1f} s = "
              f"{args.count / seconds:.0f} images/s; {cpu:.1f} s of CPU = {args.count / cpu:.0f} images per CPU second")
        print(f"cpu: {cpu_info().summary()}")
    finally:
        if args.work is None:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
