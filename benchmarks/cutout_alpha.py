"""How clean are cutouts? Alpha away from the mask's edge, and the cut's IoU, on the committed real photos.

    PYTHONPATH=$PWD python benchmarks/cutout_alpha.py --model MODEL_DIR [--data datasets/real]

Each photo goes through the server's own steps (``SegmentationModel``: letterbox, model, back to the
photo's size) and both alphas of ``personseg.serving.compose``: ``soft`` (the probability, what every
cutout used before) and ``clean`` (the mask at probability > 0.5, feathered). Printed per photo and
pooled: the share of pixels more than ``--far`` px (Euclidean) from the mask's edge whose alpha is
neither 0 nor 255, the mean opacity left on the background there, and the IoU against the dataset's
masks of each alpha thresholded at 128 (ignore pixels skipped, as ``personseg evaluate`` does).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from personseg.bench.cutout_alpha import measure, pooled, truth_of  # noqa: E402
from personseg.cpuinfo import cpu_info  # noqa: E402
from personseg.serving import compose  # noqa: E402
from personseg.serving.model import SegmentationModel  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    """Measure and print; ``--json`` also writes the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True, help="saved-model directory")
    parser.add_argument("--data", default=str(REPO / "datasets" / "real"), help="images/, masks/, ignore/")
    parser.add_argument("--far", type=float, default=4.0, help="pixels from the mask's edge that count as far")
    parser.add_argument("--json", help="write the figures here too")
    args = parser.parse_args(argv)
    model = SegmentationModel(args.model, threads=1)
    model.load()
    root = Path(args.data)
    photos = sorted(p for p in (root / "images").iterdir() if p.suffix.lower() in (".jpg", ".jpeg", ".png"))
    rows = [measure(model, p, truth_of(root, p.stem), args.far) for p in photos]
    print(f"model {model.info.name} ({model.info.image_size} px), {len(rows)} photos of {root.name}, threshold "
          f"{compose.THRESHOLD}, feather {compose.FEATHER_PX} px, far = more than {args.far:g} px from the edge; "
          f"{cpu_info().model or 'CPU unknown'}")
    print(f"{'photo':<16} {'far px':>7} | {'soft: partial':>13} {'bg opacity':>10} {'IoU':>6} | "
          f"{'clean: partial':>14} {'bg opacity':>10} {'IoU':>6}")
    for r in rows:
        s, c = r["soft"], r["clean"]
        print(f"{r['photo']:<16} {r['far_pixels']:>7} | {s['partial_far'] / max(1, r['far_pixels']):>13.1%} "
              f"{s['background_opacity']:>10.1%} {s['iou']:>6.3f} | "
              f"{c['partial_far'] / max(1, r['far_pixels']):>14.1%} {c['background_opacity']:>10.1%} {c['iou']:>6.3f}")
    total = pooled(rows)
    s, c = total["soft"], total["clean"]
    print(f"{'all':<16} {sum(r['far_pixels'] for r in rows):>7} | {s['partial_far_share']:>13.1%} "
          f"{s['background_opacity']:>10.1%} {s['mean_iou']:>6.3f} | {c['partial_far_share']:>14.1%} "
          f"{c['background_opacity']:>10.1%} {c['mean_iou']:>6.3f}")
    if args.json:
        Path(args.json).write_text(json.dumps({"rows": rows, "pooled": total}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
