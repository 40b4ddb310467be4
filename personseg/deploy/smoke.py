"""The smoke test every target runs: the probe image through /v1/segment, the expected mask back.

"Expected" is the mask the offline model gave the probe (``personseg.serving.smoke_probe``, stored in the
model card at publish). A valid PNG of the right size is not enough: a Service that answers blank,
shifted or another model's masks has an IoU with the expected mask below ``MIN_IOU`` and fails.
"""

from __future__ import annotations

import io
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from personseg.errors import UserError
from personseg.quality import iou
from personseg.serving.smoke_probe import PROBE_SIZE, foreground, person_image

SMOKE_SIZE = PROBE_SIZE
SEGMENT_PATH = "/v1/segment?output=mask"
MIN_IOU = 0.9  # served vs offline mask of the probe; INT8 kernels differ by CPU, wrong masks score far lower


class SmokeFailed(UserError):
    """The new version answered, but not with the mask the offline model gives."""


@dataclass(frozen=True)
class SmokeResult:
    """What the smoke test saw."""

    width: int
    height: int
    seconds: float
    foreground_fraction: float
    iou: float

    def to_dict(self) -> dict[str, Any]:
        """Rounded figures for the deploy result."""
        return {"width": self.width, "height": self.height, "seconds": round(self.seconds, 4),
                "foreground_fraction": round(self.foreground_fraction, 4), "iou": round(self.iou, 4),
                "min_iou": MIN_IOU}


def read_mask(data: bytes, content_type: str, size: tuple[int, int]) -> np.ndarray:
    """Validate a mask response; return its person pixels (above one half) as a boolean array."""
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
    return foreground(np.asarray(mask.convert("L")))


def check_mask(served: np.ndarray, expected: np.ndarray, min_iou: float = MIN_IOU) -> float:
    """The IoU of the served and the expected mask; ``SmokeFailed`` below ``min_iou`` or if nothing is expected.

    Two empty masks score 1.0, so an empty expected mask would pass a server that answers blank.
    """
    if not expected.any():
        raise SmokeFailed("smoke test: the expected mask of the probe is empty, so a blank answer would pass; "
                          "the model finds no person in the probe image and cannot be checked")
    score = iou(served, expected.astype(np.uint8))
    if score < min_iou:
        raise SmokeFailed(f"smoke test: mask differs from the expected one: IoU {score:.3f} < {min_iou} "
                          f"(person pixels: served {served.mean():.3f}, expected {expected.mean():.3f})")
    return score


def run_smoke(
    post: Callable[[str, bytes, str], tuple[int, str, bytes]], expected: np.ndarray, attempts: int = 3
) -> SmokeResult:
    """POST the probe with ``post(path, body, content_type)``; the mask must match ``expected``.

    A few attempts absorb the moment between a pod turning ready and its endpoint being routable;
    anything but a good mask on the last attempt fails the deploy. A wrong mask is not retried.
    """
    image = person_image()
    last = ""
    for attempt in range(attempts):
        start = time.perf_counter()
        status, ctype, body = post(SEGMENT_PATH, image, "image/png")
        seconds = time.perf_counter() - start
        if status == 200:
            served = read_mask(body, ctype, SMOKE_SIZE)
            score = check_mask(served, expected)
            return SmokeResult(SMOKE_SIZE[0], SMOKE_SIZE[1], seconds, float(served.mean()), score)
        last = f"HTTP {status}: {body[:300].decode(errors='replace')}"
        if attempt + 1 < attempts:
            time.sleep(1.0)
    raise SmokeFailed(f"smoke test: POST {SEGMENT_PATH} failed after {attempts} attempts ({last})")
