"""Turn a probability map into what ``/v1/segment`` returns: a mask, a cutout or a composite PNG.

PNGs are written with fast zlib settings: at serving rates compression time matters more than a
few percent of size.
"""

from __future__ import annotations

import io
import re

import numpy as np
from PIL import Image, ImageOps

from personseg.imageops import to_rgb8
from personseg.serving.errors import RequestError

OUTPUTS = ("mask", "cutout", "composite")
DEFAULT_BACKGROUND = (255, 255, 255)
_HEX = re.compile(r"#?([0-9a-fA-F]{6})")


def parse_output(value: str | None) -> str:
    """Validate ``?output=``; mask by default."""
    value = value or "mask"
    if value not in OUTPUTS:
        raise RequestError(f"output={value!r}: expected one of {', '.join(OUTPUTS)}", kind="bad_parameter")
    return value


def parse_colour(value: str) -> tuple[int, int, int]:
    """``RRGGBB`` (optionally with a leading ``#``) -> an RGB tuple."""
    match = _HEX.fullmatch(value.strip())
    if not match:
        raise RequestError(f"background={value!r}: expected a colour as RRGGBB hex, e.g. 00ff00",
                           kind="bad_parameter")
    h = match.group(1)
    return int(h[0:2], 16), int(h[2:4], 16), int(h[4:6], 16)


def to_png(image: Image.Image) -> bytes:
    """Encode quickly as PNG."""
    buf = io.BytesIO()
    image.save(buf, format="PNG", compress_level=1)
    return buf.getvalue()


def mask_image(prob: np.ndarray) -> Image.Image:
    """Probabilities in [0, 1] -> an 8-bit greyscale mask (255 = person), soft edges kept."""
    return Image.fromarray(np.clip(np.rint(prob * 255.0), 0, 255).astype(np.uint8), mode="L")


def cutout(image: Image.Image, prob: np.ndarray) -> Image.Image:
    """The input as RGBA with the mask as alpha (times any alpha the input already had)."""
    alpha = mask_image(prob)
    if "A" in image.getbands():
        own = np.asarray(image.getchannel("A"), dtype=np.float32) / 255.0
        alpha = mask_image(prob * own)
    out = to_rgb8(image)
    out.putalpha(alpha)
    return out


def composite(image: Image.Image, prob: np.ndarray,
              background: tuple[int, int, int] | Image.Image = DEFAULT_BACKGROUND) -> Image.Image:
    """The person over a colour or over a picture scaled to cover the frame (centre-cropped)."""
    size = image.size
    if isinstance(background, Image.Image):
        back = ImageOps.fit(to_rgb8(background), size, Image.BILINEAR)
    else:
        back = Image.new("RGB", size, background)
    return Image.composite(to_rgb8(image), back, mask_image(prob))


def render(kind: str, image: Image.Image, prob: np.ndarray,
           background: tuple[int, int, int] | Image.Image | None = None) -> bytes:
    """The PNG bytes for ``kind`` (one of ``OUTPUTS``)."""
    if kind == "mask":
        return to_png(mask_image(prob))
    if kind == "cutout":
        return to_png(cutout(image, prob))
    return to_png(composite(image, prob, DEFAULT_BACKGROUND if background is None else background))
