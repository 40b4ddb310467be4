"""An HTML gallery: speed/IoU chart, cut-outs and masks per model on real photos and test images.

What a person wants to see first comes first: how fast each model is and how good (a bar chart of
images/s with IoU beside each bar), then the deployed model's cut-outs on a checkerboard for the
second evaluation set (real photographs) and the held-out test images, with each model's mask and the
FP32-vs-INT8 difference map beside them. Images are embedded as base64 PNG and charts as inline SVG, so
the page renders in the Kubeflow UI (which shows an HTML artifact on its own, without sibling files).
"""

from __future__ import annotations

import base64
import html
import io
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from PIL import Image

from personseg.data.loading import LoadedData
from personseg.data.prescan import listed
from personseg.data.split import split_ids
from personseg.data.stream import load_all
from personseg.quality import IGNORE
from personseg.runtime import load_predictor

OVERLAY = np.array([0, 200, 80], dtype=np.float32)
ONLY_A = (230, 40, 40)
ONLY_B = (40, 90, 230)
CHECKER = (np.uint8(204), np.uint8(255))
CHECKER_SQUARE = 8


def png_data_uri(pixels: np.ndarray) -> str:
    """A ``data:`` URI holding ``pixels`` (H, W, 3 uint8) as PNG."""
    buf = io.BytesIO()
    Image.fromarray(pixels.astype(np.uint8), mode="RGB").save(buf, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def overlay(image: np.ndarray, mask: np.ndarray, alpha: float = 0.5) -> np.ndarray:
    """``image`` with ``mask`` pixels tinted green."""
    out = image.astype(np.float32)
    out[mask] = (1 - alpha) * out[mask] + alpha * OVERLAY
    return out.astype(np.uint8)


def cutout(image: np.ndarray, mask: np.ndarray, square: int = CHECKER_SQUARE) -> np.ndarray:
    """The person pixels of ``image`` on a grey-and-white checkerboard (the usual "transparent" look)."""
    h, w = mask.shape
    yy, xx = np.mgrid[0:h, 0:w]
    board = np.where(((yy // square + xx // square) % 2).astype(bool), CHECKER[1], CHECKER[0]).astype(np.uint8)
    return np.where(mask[..., None], image, board[..., None].repeat(3, axis=2)).astype(np.uint8)


def difference(image: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Grey ``image`` with pixels only in mask ``a`` red and only in mask ``b`` blue."""
    grey = image.mean(axis=2, keepdims=True).repeat(3, axis=2) * 0.5
    grey[a & ~b] = ONLY_A
    grey[b & ~a] = ONLY_B
    return grey.astype(np.uint8)


def curve_svg(history: Sequence[dict], width: int = 360, height: int = 160) -> str:
    """Inline SVG of training loss and validation IoU per epoch (both scaled to the plot)."""
    if not history:
        return "<p>No training history.</p>"
    epochs = [float(h["epoch"]) for h in history]
    lo_e, hi_e = min(epochs), max(max(epochs), min(epochs) + 1)

    def line(values: list[float], colour: str) -> str:
        finite = [v for v in values if np.isfinite(v)]
        top = max(finite, default=1.0) or 1.0
        pts = " ".join(f"{20 + (e - lo_e) / (hi_e - lo_e) * (width - 40):.1f},"
                       f"{height - 20 - (v / top if np.isfinite(v) else 0) * (height - 40):.1f}"
                       for e, v in zip(epochs, values))
        return f'<polyline fill="none" stroke="{colour}" stroke-width="2" points="{pts}"/>'

    loss = [float(h.get("loss", float("nan"))) for h in history]
    iou = [float(h.get("val_iou", float("nan"))) for h in history]
    return (f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" role="img">'
            f'<rect width="{width}" height="{height}" fill="#fafafa" stroke="#ccc"/>'
            f"{line(loss, '#c0392b')}{line(iou, '#27ae60')}"
            f'<text x="24" y="14" font-size="11" fill="#c0392b">loss (max {max(loss):.3f})</text>'
            f'<text x="180" y="14" font-size="11" fill="#27ae60">val IoU (last {iou[-1]:.3f})</text></svg>')


def speed_chart_svg(result: dict, width: int = 680) -> str:
    """Inline SVG: one bar of images/s per evaluated model, its IoU (and second-set IoU) beside it."""
    rows = result.get("models", [])
    if not rows:
        return "<p>No timing results.</p>"
    bar_h, gap, label_w, value_w = 18, 6, 170, 300
    top = max(float(r["images_per_s"]) for r in rows) or 1.0
    height = len(rows) * (bar_h + gap) + 24
    span = width - label_w - value_w
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" role="img" '
             f'aria-label="images per second and IoU per model">',
             f'<text x="{label_w}" y="12" font-size="11" fill="#555">images/s (batch {result.get("batch_size", "?")}, '
             f'{result.get("threads", "?")} threads); IoU on the test split</text>']
    for i, row in enumerate(rows):
        y = 20 + i * (bar_h + gap)
        length = max(1.0, float(row["images_per_s"]) / top * span)
        extra = f", {float(row['extra']['iou']):.3f} second set" if row.get("extra") else ""
        name, rate = html.escape(row["name"]), float(row["images_per_s"])
        parts += [f'<text x="{label_w - 6}" y="{y + 13}" font-size="12" text-anchor="end">{name}</text>',
                  f'<rect x="{label_w}" y="{y}" width="{length:.1f}" height="{bar_h}" fill="#2e86c1"/>',
                  f'<text x="{label_w + length + 6:.1f}" y="{y + 13}" font-size="12">{rate:.1f}/s '
                  f'(x{float(row["speedup"]):.2f}), IoU {float(row["iou"]):.3f}{extra}</text>']
    return "".join(parts) + "</svg>"


def masks_of(model_dir: str | Path, images: np.ndarray, batch: int = 8) -> np.ndarray:
    """Boolean (N, S, S) person masks of the saved model at ``model_dir`` for uint8 NHWC ``images``."""
    pred = load_predictor(model_dir)
    x = images.transpose(0, 3, 1, 2).astype(np.float32) / 255.0
    return np.concatenate([pred.logits(x[i : i + batch]) > 0 for i in range(0, len(x), batch)])[:, 0]


def _table(held: LoadedData, size: int, models: Sequence[tuple[str, str | Path]], diff: tuple[str, str]) -> list[str]:
    """One row per image of ``held``: the image, the last model's cut-out, truth, each mask, the difference."""
    masks = {label: masks_of(path, held.images) for label, path in models}
    shown = list(masks)[-1]
    head = "".join(f"<th>{html.escape(h)}</th>"
                   for h in ["image", f"cut-out ({shown})", "truth", *masks, f"{diff[0]} vs {diff[1]}"])
    rows = []
    for i, sample_id in enumerate(held.ids):
        img = held.images[i]
        truth = held.labels[i] == 1
        cells = [img, cutout(img, masks[shown][i]), overlay(img, truth), *(overlay(img, m[i]) for m in masks.values()),
                 difference(img, masks[diff[0]][i], masks[diff[1]][i])]
        changed = int((masks[diff[0]][i] != masks[diff[1]][i]).sum())
        tds = "".join(f'<td><img src="{png_data_uri(c)}" width="{size}" height="{size}" alt=""/></td>' for c in cells)
        rows.append(f"<tr><th>{html.escape(sample_id)}<br/><small>{changed} px differ</small></th>{tds}</tr>")
    ignored = int((held.labels == IGNORE).sum())
    return [f"<p>{len(held.ids)} images; {ignored} ignore pixels (unsure rim, letterbox padding) in their labels.</p>",
            f"<table><tr><th>id</th>{head}</tr>", *rows, "</table>"]


def build_gallery(data_root: str | Path, size: int, models: Sequence[tuple[str, str | Path]],
                  diff: tuple[str, str], history: Sequence[dict] = (), count: int = 6,
                  extra: tuple[str, str | Path] | None = None, result: dict | None = None) -> str:
    """The gallery page: the speed/IoU chart, then the second set and the test images, then the curve.

    ``models`` are (label, saved-model dir), the last one the model to ship (its cut-outs are shown);
    ``diff`` names the two labels whose masks are compared (red: only the first has person there,
    blue: only the second). ``extra`` is (name, folder) of a second evaluation set (e.g. real
    photographs), shown first. ``result`` is the evaluation result (``personseg.evaluate.step``) the chart
    is drawn from.
    """
    data = listed(data_root, size)  # only the images shown are opened
    held = load_all(data.subset(split_ids(data.ids, data_root).test[:count]))
    sections = []
    if result is not None:
        sections += ["<h2>Speed and quality</h2>", speed_chart_svg(result)]
    if extra is not None:
        extra_data = listed(extra[1], size)
        sections += [f"<h2>Second evaluation set: {html.escape(extra[0])}</h2>",
                     *_table(load_all(extra_data.subset(extra_data.ids[:count])), size, models, diff)]
    sections += ["<h2>Test images</h2>", *_table(held, size, models, diff)]
    return "\n".join([
        "<!doctype html><html><head><meta charset='utf-8'><title>personseg gallery</title>",
        "<style>body{font-family:sans-serif}td,th{padding:2px;text-align:center}</style></head><body>",
        f"<p>Cut-out: the person on a checkerboard. Green: person. Difference map: red = only "
        f"{html.escape(diff[0])}, blue = only {html.escape(diff[1])}.</p>",
        *sections,
        "<h2>Training curve</h2>", curve_svg(history), "</body></html>",
    ])
