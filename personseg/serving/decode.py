"""Untrusted bytes -> a decoded Pillow image, or a ``RequestError`` naming what is wrong.

Order matters: the byte limit first (cheap), then the header (format and declared size) before any
pixel is decoded, so a decompression bomb is refused without allocating its pixels. Pillow's
``MAX_IMAGE_PIXELS`` is enforced as an error here, never as a mere warning.

The image keeps its Pillow mode (alpha matters for cutouts); 16-bit greyscale PNGs arrive as ``I;16``
and become 8-bit RGB in ``personseg.imageops.to_rgb8``, scaled as training data is, never clipped.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from dataclasses import dataclass

from PIL import Image, UnidentifiedImageError

from personseg.imageops import upright
from personseg.serving.errors import RequestError

FORMATS = ("JPEG", "PNG", "WEBP", "BMP")


@dataclass(frozen=True)
class ImageLimits:
    """What a request may send: encoded size and decoded pixel count."""

    max_bytes: int
    max_pixels: int
    pixels_setting: str = "PERSONSEG_MAX_PIXELS"  # named in the 413; says so when lowered to fit memory


def too_large(what: str, size: int, limit: int, unit: str, setting: str) -> RequestError:
    """The 413 error for a request over one of the configured limits."""
    return RequestError(f"{what} is {size} {unit}, over this server's limit of {limit} ({setting})",
                        status=413, kind=f"too_many_{unit}")


def decode_image(data: bytes, limits: ImageLimits, field: str = "image",
                 admit: Callable[[int], None] | None = None) -> Image.Image:
    """Decode ``data`` fully (so truncation shows now) and apply EXIF orientation.

    ``admit`` is called with the pixel count once the header is read and before any pixel is decoded;
    it raises to refuse the image (the server's memory budget).
    """
    if not data:
        raise RequestError(f"{field}: empty; send the image bytes as the body or a multipart part",
                           kind="empty")
    if len(data) > limits.max_bytes:
        raise too_large(field, len(data), limits.max_bytes, "bytes", "PERSONSEG_MAX_BYTES")
    try:
        image = Image.open(io.BytesIO(data))
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise RequestError(f"{field}: decompression bomb refused ({exc})", 413, "decompression_bomb") from None
    except UnidentifiedImageError:
        raise RequestError(f"{field}: not an image ({len(data)} bytes Pillow cannot identify); "
                           f"send one of {', '.join(FORMATS)}", kind="not_image") from None
    except (OSError, SyntaxError, ValueError) as exc:
        raise RequestError(f"{field}: corrupt image header ({exc})", kind="corrupt") from None
    if image.format not in FORMATS:
        raise RequestError(f"{field}: unsupported image format {image.format}; send one of {', '.join(FORMATS)}",
                           status=415, kind="unsupported_format")
    width, height = image.size
    pixels = width * height
    if Image.MAX_IMAGE_PIXELS and pixels > Image.MAX_IMAGE_PIXELS:
        raise RequestError(f"{field}: decompression bomb refused: declares {width}x{height} = {pixels} pixels, "
                           f"over Pillow's MAX_IMAGE_PIXELS of {Image.MAX_IMAGE_PIXELS}", 413, "decompression_bomb")
    if pixels > limits.max_pixels:
        raise too_large(f"{field} ({width}x{height})", pixels, limits.max_pixels, "pixels", limits.pixels_setting)
    if admit is not None:
        admit(pixels)
    try:
        image.load()
        image = upright(image)  # the rule datasets follow too
    except (OSError, SyntaxError, ValueError, EOFError) as exc:
        raise RequestError(f"{field}: truncated or corrupt {image.format} data ({exc})", kind="truncated") from None
    return image
