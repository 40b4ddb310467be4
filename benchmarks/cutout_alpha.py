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

import numpy as np
from PIL import Image

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from personseg.cpuinfo import cpu_info  # noqa: E402
from personseg.quality import IGNORE, iou  # noqa: E402
from personseg.serving import compose  # noqa: E402
from personseg.serving.model import SegmentationModel  # noqa: E402

ALPHAS = {"soft": compose.probability_image, "clean": compose.clean_alpha}


def edge_distance(mask: np.ndarray) -> np.ndarray:
    """Euclidean distance of every pixel to the nearest pixel of the other class (inf if there is none)."""
    from scipy.ndimage import distance_transform_edt

    if mask.all() or not mask.any():
        return np.full(mask.shape, np.inf)
    return np.where(mask, distance_transform_edt(mask), distance_transform_edt(~mask))


def truth_of(root: Path, name: str) -> np.ndarray:
    """The dataset's mask as 0/1 with ``IGNORE`` where its ignore map says so."""
    labels = (np.asarray(Image.open(root / "masks" / f"{name}.png").convert("L")) > 0).astype(np.uint8)
    ignore = root / "ignore" / f"{name}.png"
    if ignore.is_file():
        labels[np.asarray(Image.open(ignore).convert("L")) > 0] = IGNORE
    return labels


def measure(model: SegmentationModel, photo: Path, truth: np.ndarray, far: float) -> dict:
    """The figures of one photo for both alphas."""
    with Image.open(photo) as image:
        image.load()
        prepared = model.preprocess(image)
    prob = model.postprocess(model.predict(prepared.tensor[None])[0, 0], prepared)
    away = edge_distance(prob > compose.THRESHOLD) > far
    background = away & (prob <= compose.THRESHOLD)
    row: dict = {"photo": photo.stem, "pixels": int(prob.size), "far_pixels": int(away.sum())}
    for name, alpha_of in ALPHAS.items():
        alpha = np.asarray(alpha_of(prob))
        partial = (alpha > 0) & (alpha < 255)
        row[name] = {"partial_far": int((partial & away).sum()),
                     "background_opacity": float(alpha[background].mean() / 255) if background.any() else 0.0,
                     "iou": iou(alpha >= 128, truth)}
    return row


def pooled(rows: list[dict]) -> dict:
    """Over all photos: the partial share of far pixels, the mean background opacity and the mean IoU."""
    far = sum(r["far_pixels"] for r in rows)
    return {name: {"partial_far_share": sum(r[name]["partial_far"] for r in rows) / max(1, far),
                   "background_opacity": float(np.mean([r[name]["background_opacity"] for r in rows])),
                   "mean_iou": float(np.mean([r[name]["iou"] for r in rows]))} for name in ALPHAS}


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
