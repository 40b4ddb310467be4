"""Image <-> model-tensor conversions shared by data loading and serving (numpy and Pillow only).

Images are letterboxed (resized keeping aspect, padded) rather than squashed, so people keep their
proportions; ``Box`` records where the picture sits so a mask can be mapped back exactly.

Every picture is read as a viewer shows it: ``upright`` applies its EXIF orientation, in datasets
(images, masks, ignore maps) and in serving alike, so a phone photo stored sideways with orientation 6
meets its upright mask, and the model sees the same pixels in training as in serving.

Every decoded picture reaches 8 bits through ``to_rgb8`` (images) or ``to_mask8`` (masks, ignore maps).
Pillow opens a 16-bit greyscale PNG as mode ``I;16`` (``I`` before Pillow 10) and its ``convert`` clips
those values at 255, so a 16-bit photo turns nearly white; here they are scaled instead. 16-bit RGB(A)
and grey+alpha PNGs need nothing: Pillow already reads them as 8-bit RGB(A) (the high byte).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageOps

PAD_VALUE = 114  # neutral grey for letterbox padding
EXIF_ORIENTATION = 0x0112
SIDEWAYS = (5, 6, 7, 8)  # orientations that swap width and height
WIDE_INT_MODES = ("I;16", "I;16L", "I;16B", "I;16N", "I")  # values on a 0..65535 scale


@dataclass(frozen=True)
class Box:
    """Where the resized picture sits inside the square model input."""

    left: int
    top: int
    width: int
    height: int


def fit_box(width: int, height: int, size: int) -> Box:
    """The letterbox placement of a ``width`` x ``height`` picture in a ``size`` square."""
    scale = size / max(width, height)
    w = max(1, round(width * scale))
    h = max(1, round(height * scale))
    return Box((size - w) // 2, (size - h) // 2, w, h)


def letterbox(
    image: Image.Image, size: int, resample: int = Image.BILINEAR, fill: int = PAD_VALUE
) -> tuple[Image.Image, Box]:
    """Resize ``image`` into a ``size`` square keeping its aspect ratio; return it and its box."""
    box = fit_box(image.width, image.height, size)
    if image.size == (size, size):  # already square at size: the paste below would cover the whole canvas
        return image.copy(), box
    canvas = Image.new(image.mode, (size, size), fill if image.mode == "L" else (fill,) * len(image.getbands()))
    canvas.paste(image.resize((box.width, box.height), resample), (box.left, box.top))
    return canvas, box


def upright(image: Image.Image) -> Image.Image:
    """``image`` (decoded) turned as its EXIF orientation says; the same pixels when it has none."""
    return ImageOps.exif_transpose(image)


def upright_size(image: Image.Image) -> tuple[int, int]:
    """(width, height) as ``upright`` will give them, from the header alone (nothing is decoded)."""
    width, height = image.size
    return (height, width) if image.getexif().get(EXIF_ORIENTATION) in SIDEWAYS else (width, height)


def _as_16bit(image: Image.Image) -> np.ndarray | None:
    """A wide single-channel image's values on a 0..65535 scale, or None for modes Pillow converts right.

    Integer modes hold 16-bit data in practice (``I`` is how older Pillow opened 16-bit PNGs); float
    ``F`` is taken as 0..1. Out-of-range values are clipped, NaN reads as 0.
    """
    if image.mode in WIDE_INT_MODES:
        return np.clip(np.asarray(image, dtype=np.float64), 0, 65535)
    if image.mode == "F":
        return np.clip(np.nan_to_num(np.asarray(image, dtype=np.float64)), 0, 1) * 65535
    return None


def has_alpha(image: Image.Image) -> bool:
    """Whether ``image`` carries transparency (an alpha band, or a palette/colour key marked transparent)."""
    return image.mode in ("RGBA", "LA", "PA", "RGBa", "La") or "transparency" in image.info


def to_rgb8(image: Image.Image) -> Image.Image:
    """Any decoded picture as 8-bit RGB; 16-bit greyscale is scaled (v / 257, rounded), not clipped.

    Transparency is composited onto the letterbox grey (``PAD_VALUE``): a cut-out person on a
    transparent background is seen on the grey the model knows as "not a picture", not on whatever
    colour the transparent pixels happen to hold.
    """
    wide = _as_16bit(image)
    if wide is not None:
        return Image.fromarray(np.rint(wide / 257).astype(np.uint8)).convert("RGB")
    if has_alpha(image):
        rgba = image.convert("RGBA")
        return Image.alpha_composite(Image.new("RGBA", rgba.size, (PAD_VALUE, PAD_VALUE, PAD_VALUE, 255)),
                                     rgba).convert("RGB")
    return image.convert("RGB")


def to_mask8(image: Image.Image) -> Image.Image:
    """A mask or ignore map as 8-bit greyscale where zero stays zero and nonzero stays nonzero.

    16-bit values are divided by 257 rounding up, so a 0/1 mask saved in 16 bits is still a mask and a
    soft 16-bit mask still shows several levels (which the binary check then refuses).
    """
    wide = _as_16bit(image)
    if wide is None:
        return image.convert("L")
    return Image.fromarray(np.ceil(wide / 257).astype(np.uint8))


def to_input(image: Image.Image, size: int) -> tuple[np.ndarray, Box]:
    """Any decoded picture as a (3, size, size) float32 RGB array in [0, 1], plus its letterbox box."""
    boxed, box = letterbox(to_rgb8(image), size)
    tensor = np.empty((3, size, size), dtype=np.float32)
    # uint8 / float32 straight into the (3, S, S) layout: the values of asarray(float32) / 255 without its two
    # intermediate arrays (a third of the CPU a served request spends outside the model on a 256 px input).
    np.divide(np.asarray(boxed).transpose(2, 0, 1), np.float32(255.0), out=tensor)
    return tensor, box


def sigmoid(logits: np.ndarray) -> np.ndarray:
    """Numerically stable logistic function."""
    return (1.0 / (1.0 + np.exp(-np.clip(logits, -60, 60)))).astype(np.float32)


def unletterbox(prob: np.ndarray, box: Box, width: int, height: int) -> np.ndarray:
    """Map a (size, size) probability map back to the original ``width`` x ``height``, soft edges kept."""
    crop = prob[box.top : box.top + box.height, box.left : box.left + box.width]
    img = Image.fromarray(np.rint(np.clip(crop * 255.0, 0, 255)).astype(np.uint8), mode="L")  # rounded, not cut
    return np.asarray(img.resize((width, height), Image.BILINEAR), dtype=np.float32) / 255.0


def padding_mask(box: Box, size: int) -> np.ndarray:
    """(size, size) bool: True on the letterbox padding around ``box`` (not part of the picture)."""
    pad = np.ones((size, size), dtype=bool)
    pad[box.top : box.top + box.height, box.left : box.left + box.width] = False
    return pad
