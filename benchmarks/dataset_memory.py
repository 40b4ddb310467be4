"""Peak memory of the steps that read a dataset outside training, at two dataset sizes.

    python benchmarks/dataset_memory.py [--counts 1000 10000] [--photo 96] [--size 64]

Writes a synthetic dataset of each size (``--photo`` px JPEG photos, PNG masks), then runs each reader
in a fresh process and prints its peak RSS (``ru_maxrss``) and how far that is above the same process
right after its imports (the reader's own share):

- validate: ``personseg data validate`` (every sample decoded, checked and dropped);
- quantize: the calibration (32) and tuning images quantize decodes, as model inputs;
- evaluate: ``personseg evaluate`` of a one-layer ONNX model on the test split, then the gallery's six
  test images (the pipeline's evaluate step reads both);
- whole-dataset loader: ``load_dataset``, what these steps called before they streamed, for comparison.

Flat in the dataset's size means the reader's share at the larger count is close to the smaller one's;
the test split (15 %) grows with the dataset, and evaluate keeps one number per image and metric.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from personseg.bench.dataset_memory import READERS, peak_mb  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    """Print one row per reader and dataset size."""
    from personseg.data.synthetic import write_synthetic

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--counts", type=int, nargs="+", default=[1000, 10000])
    ap.add_argument("--photo", type=int, default=96, help="side of the generated photos, px")
    ap.add_argument("--size", type=int, default=64, help="side the readers letterbox to, px")
    args = ap.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="personseg-memory-") as tmp:
        print(f"| reader | images | peak RSS MB | above imports MB |  (photos {args.photo} px, read at {args.size} px)")
        print("|---|---|---|---|")
        for count in args.counts:
            data = write_synthetic(Path(tmp) / f"data{count}", count=count, size=args.photo, seed=0)
            for reader in READERS:
                work = Path(tmp) / f"work-{count}-{reader.replace(' ', '-')}"
                work.mkdir()
                peak, rise = peak_mb(reader, data, args.size, work)
                print(f"| {reader} | {count} | {peak:.0f} | {rise:.1f} |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
