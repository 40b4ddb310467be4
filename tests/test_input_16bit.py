"""16-bit pictures are scaled to 8 bits, never clipped: the shared conversions and dataset loading.

Pillow 10+ opens a 16-bit greyscale PNG as ``I;16`` and its ``convert("RGB")`` clips at 255, so the
picture turns nearly white. The HTTP side (same conversions, through the real server) is in
test_serving_http.py.
"""

import struct
import zlib

import numpy as np
import pytest
from PIL import Image

from personseg.data.loading import load_dataset
from personseg.errors import UserError
from personseg.imageops import to_mask8, to_rgb8

SIZE = 64
RNG = np.random.default_rng(7)
WIDE = RNG.integers(0, 65536, (SIZE, SIZE), dtype=np.uint16)


def png_rgb16(array: np.ndarray) -> bytes:
    """A 16-bit RGB PNG (Pillow cannot write one): (H, W, 3) uint16 -> bytes."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    height, width = array.shape[:2]
    rows = b"".join(b"\x00" + array[y].astype(">u2").tobytes() for y in range(height))
    ihdr = struct.pack(">IIBBBBB", width, height, 16, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b"")


@pytest.mark.parametrize("image", [
    Image.frombytes("I;16", (SIZE, SIZE), WIDE.astype("<u2").tobytes()),
    Image.frombytes("I;16B", (SIZE, SIZE), WIDE.astype(">u2").tobytes()),
    Image.fromarray(WIDE.astype(np.int32)),  # mode I: how Pillow < 10 opened 16-bit PNGs
    Image.fromarray(WIDE.astype(np.float32) / 65535),  # mode F, taken as 0..1
], ids=lambda im: im.mode)
def test_wide_modes_scale_to_the_high_byte(image):
    rgb = np.asarray(to_rgb8(image), dtype=np.int16)
    assert rgb.shape == (SIZE, SIZE, 3)
    assert np.abs(rgb - (WIDE >> 8)[..., None]).max() <= 1


def test_mask_conversion_keeps_zero_and_nonzero():
    values = np.array([[0, 1, 256, 65535]], dtype=np.uint16)
    mask = np.asarray(to_mask8(Image.fromarray(values)))
    assert mask.tolist() == [[0, 1, 1, 255]]  # a 0/1 mask in 16 bits stays a mask


def _write(root, name, image, mask):
    (root / "images").mkdir(parents=True, exist_ok=True)
    (root / "masks").mkdir(exist_ok=True)
    if isinstance(image, bytes):
        (root / "images" / f"{name}.png").write_bytes(image)
    else:
        image.save(root / "images" / f"{name}.png")
    mask.save(root / "masks" / f"{name}.png")


def _square_mask(value: int, dtype=np.uint16) -> Image.Image:
    mask = np.zeros((SIZE, SIZE), dtype)
    mask[10:40, 20:50] = value
    return Image.fromarray(mask)


def test_16bit_grey_image_loads_like_its_8bit_version(tmp_path):
    _write(tmp_path, "eight", Image.fromarray((WIDE >> 8).astype(np.uint8)), _square_mask(255, np.uint8))
    _write(tmp_path, "sixteen", Image.fromarray(WIDE), _square_mask(1))  # saved as a 16-bit PNG
    assert Image.open(tmp_path / "images" / "sixteen.png").mode == "I;16"
    data = load_dataset(tmp_path, SIZE)
    eight, sixteen = (data.images[data.ids.index(i)].astype(np.int16) for i in ("eight", "sixteen"))
    assert np.abs(sixteen - eight).max() <= 1
    np.testing.assert_array_equal(data.labels[0], data.labels[1])


def test_16bit_rgb_image_loads_like_its_8bit_version(tmp_path):
    """Guard, not a fix: Pillow 13 reads 16-bit RGB PNGs at their high byte; fail if that changes."""
    wide = RNG.integers(0, 65536, (SIZE, SIZE, 3), dtype=np.uint16)
    _write(tmp_path, "eight", Image.fromarray((wide >> 8).astype(np.uint8), "RGB"), _square_mask(255, np.uint8))
    _write(tmp_path, "sixteen", png_rgb16(wide), _square_mask(255, np.uint8))
    data = load_dataset(tmp_path, SIZE)
    np.testing.assert_allclose(data.images[1].astype(np.int16), data.images[0].astype(np.int16), atol=1)


@pytest.mark.parametrize("person", [1, 255, 65535])
def test_16bit_masks_and_ignore_maps_load_as_binary(tmp_path, person):
    _write(tmp_path, "s", Image.new("RGB", (SIZE, SIZE)), _square_mask(person))
    (tmp_path / "ignore").mkdir()
    ignore = np.zeros((SIZE, SIZE), np.uint16)
    ignore[0:2] = 1
    Image.fromarray(ignore).save(tmp_path / "ignore" / "s.png")
    labels = load_dataset(tmp_path, SIZE).labels[0]
    assert labels[10:40, 20:50].min() == 1 and labels[2:].sum() == 30 * 30 and (labels[0:2] == 255).all()


def test_soft_16bit_mask_is_refused_as_not_binary(tmp_path):
    mask = np.zeros((SIZE, SIZE), np.uint16)
    mask[10:40, 20:50] = 65535
    mask[10:40, 20] = 300  # an anti-aliased edge; clipping to 255 used to hide it
    _write(tmp_path, "s", Image.new("RGB", (SIZE, SIZE)), Image.fromarray(mask))
    with pytest.raises(UserError, match=r"s.png: mask is not binary: found 3 distinct values \(0, 2, 255\)"):
        load_dataset(tmp_path, SIZE)
