"""The smoke test every target runs: one known image through /v1/segment, a valid mask back.

The image is drawn in code (a figure on a background) so the check needs no files, and it is not
square so a server that forgets to undo its letterbox returns the wrong size and fails here.
"""

from __future__ import annotations

import io
import time
from collections.abc import Callable
from dataclasses import dataclass

from personseg.errors import UserError

SMOKE_SIZE = (160, 240)
SEGMENT_PATH = "/v1/segment?output=mask"


class SmokeFailed(UserError):
    """The new version answered, but not with a usable mask."""


@dataclass(frozen=True)
class SmokeResult:
    """What the smoke test saw."""

    width: int
    height: int
    seconds: float
    foreground_fraction: float


def person_image(size: tuple[int, int] = SMOKE_SIZE) -> bytes:
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


def check_mask(data: bytes, content_type: str, size: tuple[int, int]) -> float:
    """Validate a mask response; return the fraction of pixels above one half."""
    import numpy as np
    from PIL import Image, UnidentifiedImageError

    if not data.startswith(b"\x89PNG\r\n\x1a\n"):
        raise SmokeFailed(f"smoke test: response is not a PNG (content type {content_type!r}, {len(data)} bytes)")
    try:
        mask = Image.open(io.BytesIO(data))
        mask.load()
    except (UnidentifiedImageError, OSError) as exc:
        raise SmokeFailed(f"smoke test: PNG mask does not decode ({exc})") from None
    if mask.size != size:
        raise SmokeFailed(f"smoke test: mask is {mask.size[0]}x{mask.size[1]}, input was {size[0]}x{size[1]}")
    if mask.mode not in ("L", "1", "LA", "P"):
        raise SmokeFailed(f"smoke test: mask has mode {mask.mode}, expected a single-channel PNG")
    values = np.asarray(mask.convert("L"), dtype=np.float32) / 255.0
    return float((values > 0.5).mean())


def run_smoke(post: Callable[[str, bytes, str], tuple[int, str, bytes]], attempts: int = 3) -> SmokeResult:
    """POST the known image with ``post(path, body, content_type)`` and check the mask.

    A few attempts absorb the moment between a pod turning ready and its endpoint being routable;
    anything but a good mask on the last attempt fails the deploy.
    """
    image = person_image()
    last = ""
    for attempt in range(attempts):
        start = time.perf_counter()
        status, ctype, body = post(SEGMENT_PATH, image, "image/png")
        seconds = time.perf_counter() - start
        if status == 200:
            fraction = check_mask(body, ctype, SMOKE_SIZE)
            return SmokeResult(SMOKE_SIZE[0], SMOKE_SIZE[1], seconds, fraction)
        last = f"HTTP {status}: {body[:300].decode(errors='replace')}"
        if attempt + 1 < attempts:
            time.sleep(1.0)
    raise SmokeFailed(f"smoke test: POST {SEGMENT_PATH} failed after {attempts} attempts ({last})")
