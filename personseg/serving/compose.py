"""Turn a probability map into what ``/v1/segment`` returns: a mask, a probability map, a cutout or a composite.

The cut is the model's own decision: a pixel is person where its probability is above ``THRESHOLD``
(0.5, i.e. logit > 0, the rule ``personseg evaluate`` scores IoU with). Cutouts and composites use a
*clean* alpha by default: that mask feathered by a ``FEATHER_PX`` box blur, so alpha is exactly 0 or
255 everywhere but within ``FEATHER_PX`` pixels (in x and y) of the mask's edge, and the feathered
alpha still thresholds (>= 128) to exactly that mask. ``alpha=soft`` uses the probability itself as
alpha instead (a model that is never certain then leaves the background half visible).

PNGs are written with fast zlib settings: at serving rates compression time matters more than a
few percent of size.
"""

from __future__ import annotations

import io
import re

import numpy as np
from PIL import Image, ImageFilter, ImageOps

from personseg.imageops import to_rgb8
from personseg.serving.errors import RequestError

OUTPUTS = ("mask", "probability", "cutout", "composite")
ALPHAS = ("clean", "soft")
THRESHOLD = 0.5  # probability above which a pixel is person: evaluation's logit > 0
FEATHER_PX = 2  # half-width of the soft band around the mask's edge in a clean alpha
DEFAULT_BACKGROUND = (255, 255, 255)
_HEX = re.compile(r"#?([0-9a-fA-F]{6})")


def parse_output(value: str | None) -> str:
    """Validate ``?output=``; mask by default."""
    value = value or "mask"
    if value not in OUTPUTS:
        raise RequestError(f"output={value!r}: expected one of {', '.join(OUTPUTS)}", kind="bad_parameter")
    return value


def parse_alpha(value: str | None, output: str) -> str:
    """Validate ``?alpha=`` (clean by default); it only means something for a cutout or a composite."""
    if value is not None and output not in ("cutout", "composite"):
        raise RequestError(f"alpha={value!r} is only used with output=cutout or output=composite",
                           kind="bad_parameter")
    value = value or "clean"
    if value not in ALPHAS:
        raise RequestError(f"alpha={value!r}: expected one of {', '.join(ALPHAS)}", kind="bad_parameter")
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


def probability_image(prob: np.ndarray) -> Image.Image:
    """Probabilities in [0, 1] -> 8-bit greyscale (round(p x 255)), the model's soft output as it is."""
    return Image.fromarray(np.clip(np.rint(prob * 255.0), 0, 255).astype(np.uint8), mode="L")


def mask_image(prob: np.ndarray) -> Image.Image:
    """The person mask: 255 where the probability is above ``THRESHOLD``, 0 elsewhere."""
    return Image.fromarray(np.multiply(prob > THRESHOLD, 255, dtype=np.uint8), mode="L")  # np.where: 30x slower


def clean_alpha(prob: np.ndarray) -> Image.Image:
    """The mask feathered over ``FEATHER_PX`` pixels, clamped so that it still thresholds to the mask."""
    mask = prob > THRESHOLD
    blurred = np.asarray(mask_image(prob).filter(ImageFilter.BoxBlur(FEATHER_PX)))
    alpha = np.where(mask, np.maximum(blurred, np.uint8(128)), np.minimum(blurred, np.uint8(127)))
    return Image.fromarray(alpha, mode="L")


def alpha_image(prob: np.ndarray, alpha: str = "clean") -> Image.Image:
    """The alpha of a cutout or composite: ``clean`` (feathered mask) or ``soft`` (the probability)."""
    return clean_alpha(prob) if alpha == "clean" else probability_image(prob)


def cutout(image: Image.Image, prob: np.ndarray, alpha: str = "clean") -> Image.Image:
    """The input as RGBA with the alpha of ``alpha_image``, times any alpha the input already had."""
    matte = alpha_image(prob, alpha)
    if "A" in image.getbands():
        own = np.asarray(image.getchannel("A"), dtype=np.float32) / 255.0
        matte = probability_image(np.asarray(matte, dtype=np.float32) / 255.0 * own)
    out = to_rgb8(image)
    out.putalpha(matte)
    return out


def composite(image: Image.Image, prob: np.ndarray,
              background: tuple[int, int, int] | Image.Image = DEFAULT_BACKGROUND, alpha: str = "clean") -> Image.Image:
    """The person over a colour or over a picture scaled to cover the frame (centre-cropped)."""
    size = image.size
    if isinstance(background, Image.Image):
        back = ImageOps.fit(to_rgb8(background), size, Image.BILINEAR)
    else:
        back = Image.new("RGB", size, background)
    return Image.composite(to_rgb8(image), back, alpha_image(prob, alpha))


def render(kind: str, image: Image.Image, prob: np.ndarray,
           background: tuple[int, int, int] | Image.Image | None = None, alpha: str = "clean") -> bytes:
    """The PNG bytes for ``kind`` (one of ``OUTPUTS``)."""
    if kind == "mask":
        return to_png(mask_image(prob))
    if kind == "probability":
        return to_png(probability_image(prob))
    if kind == "cutout":
        return to_png(cutout(image, prob, alpha))
    return to_png(composite(image, prob, DEFAULT_BACKGROUND if background is None else background, alpha))
