"""The smoke probe: a drawn person, and the mask the offline model gives it, computed where the server runs it.

Whoever publishes runs the model once on ``person_image()`` through the serving code itself
(letterbox, model, unletterbox, 8-bit mask, threshold) and hands that mask (``card_entry``) to the
registry, which stores it in the card; every deploy's smoke test then requires the Service's mask to
match it. A model that cannot run at publish gets a card entry saying why instead of a mask, and
deploying it is refused with that reason.

The image is drawn in code (a figure on a background) so the check needs no files, and it is not
square so a server that forgets to undo its letterbox returns the wrong size.
"""

from __future__ import annotations

import base64
import io
import logging
from pathlib import Path
from typing import Any

import numpy as np

from personseg.errors import UserError

log = logging.getLogger(__name__)

PROBE = "person_image-v1"  # change it whenever person_image() draws something else
PROBE_SIZE = (160, 240)


def person_image(size: tuple[int, int] = PROBE_SIZE) -> bytes:
    """A PNG of a person-like figure (head, torso, arms, legs) on a graded background."""
    from PIL import Image, ImageDraw

    w, h = size
    img = Image.new("RGB", size)
    draw = ImageDraw.Draw(img)
    for y in range(h):
        shade = 90 + 120 * y // max(1, h - 1)
        draw.line([(0, y), (w, y)], fill=(shade // 2, shade, 200 - shade // 3))
    cx = w // 2
    skin, shirt, trousers = (224, 172, 140), (200, 40, 50), (40, 50, 120)
    head = h // 10
    draw.ellipse([cx - head, h // 12, cx + head, h // 12 + 2 * head], fill=skin)
    top, hip = h // 12 + 2 * head + 4, h * 11 // 20
    draw.rounded_rectangle([cx - w // 6, top, cx + w // 6, hip], radius=8, fill=shirt)
    draw.line([(cx - w // 6, top + 6), (cx - w // 3, hip)], fill=shirt, width=max(4, w // 16))
    draw.line([(cx + w // 6, top + 6), (cx + w // 3, hip)], fill=shirt, width=max(4, w // 16))
    draw.rectangle([cx - w // 6, hip, cx - 4, h * 19 // 20], fill=trousers)
    draw.rectangle([cx + 4, hip, cx + w // 6, h * 19 // 20], fill=trousers)
    out = io.BytesIO()
    img.save(out, format="PNG")
    return out.getvalue()


def foreground(mask_l: np.ndarray) -> np.ndarray:
    """The person pixels of an 8-bit mask as ``/v1/segment`` returns it (above one half)."""
    return np.asarray(mask_l, dtype=np.float32) / 255.0 > 0.5


def offline_mask(model_dir: str | Path, threads: int = 1) -> np.ndarray:
    """The boolean mask of ``person_image()`` computed exactly as the server does, without a server."""
    from PIL import Image

    from personseg.serving.compose import mask_image
    from personseg.serving.model import SegmentationModel

    model = SegmentationModel(str(model_dir), threads)
    model.load()
    with Image.open(io.BytesIO(person_image())) as image:
        image.load()
        prepared = model.preprocess(image)
    logits = model.predict(prepared.tensor[None])
    return foreground(np.asarray(mask_image(model.postprocess(logits[0, 0], prepared))))


def encode_mask(mask: np.ndarray) -> str:
    """A boolean mask as a base64 1-bit PNG (a few hundred bytes for the probe)."""
    from PIL import Image

    out = io.BytesIO()
    Image.fromarray(np.asarray(mask, dtype=bool)).save(out, format="PNG", optimize=True)
    return base64.b64encode(out.getvalue()).decode("ascii")


def decode_mask(text: str) -> np.ndarray:
    """The boolean mask ``encode_mask`` wrote."""
    from PIL import Image

    with Image.open(io.BytesIO(base64.b64decode(text, validate=True))) as img:
        return np.asarray(img.convert("1"), dtype=bool)


def card_entry(model_dir: str | Path) -> dict[str, Any]:
    """The card's ``smoke`` field: the probe's expected mask, or why the model could not produce one."""
    try:
        mask = offline_mask(model_dir)
    except Exception as exc:  # whatever stops the model running here would stop it serving: record why
        reason = str(exc) if isinstance(exc, UserError) else f"{type(exc).__name__}: {exc}"
        log.warning("model %s: no smoke-test mask recorded, the model did not run: %s", model_dir, reason)
        return {"probe": PROBE, "error": reason[:1000]}
    if not mask.any():
        raise UserError(f"model {model_dir}: finds no person in the smoke probe image (an empty mask), so no "
                        "deploy could tell its answers from a blank server's; not published")
    return {"probe": PROBE, "size": list(PROBE_SIZE), "mask_png_b64": encode_mask(mask),
            "foreground_fraction": round(float(mask.mean()), 4)}
