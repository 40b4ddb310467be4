"""A generated clip whose true mask is known on every frame: a photo and its mask panned and zoomed slowly.

Used by the video tests and ``benchmarks/segment_video.py``: each frame is a crop of the photo (and of its
mask, cut the same way) that drifts and grows a little per frame, encoded with a sine tone as audio, so
per-frame IoU and frame-to-frame change can be measured against the truth.
"""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import numpy as np
from PIL import Image


def crop_box(frame: int, frames: int, width: int, height: int, zoom: float = 0.15, pan: float = 0.1
             ) -> tuple[int, int, int, int]:
    """The window of the photo shown on ``frame``: it shrinks by ``zoom`` and moves right by ``pan`` overall."""
    t = frame / max(1, frames - 1)
    scale = 1.0 - zoom * t
    w, h = width * (1.0 - pan) * scale, height * scale
    left = (width - w) / 2 * (1 - t) + pan * width * t
    top = (height - h) / 2
    return round(left), round(top), round(left + w), round(top + h)


def clip_frames(photo: Image.Image, mask: Image.Image, frames: int, size: tuple[int, int], noise: float = 0.0,
                seed: int = 0, zoom: float = 0.15, pan: float = 0.1) -> list[tuple[Image.Image, np.ndarray]]:
    """Each frame as (RGB picture, boolean true mask), both ``size``; ``zoom=pan=0`` is a still camera.

    ``noise``: standard deviation (0-255 scale) of grey sensor noise drawn afresh for every frame, the kind of
    change that makes an unsmoothed mask flicker on a still person.
    """
    rng = np.random.default_rng(seed)
    binary = mask.convert("L").point(lambda v: 255 if v else 0)  # any nonzero value is person
    out = []
    for i in range(frames):
        box = crop_box(i, frames, photo.width, photo.height, zoom, pan)
        picture = photo.convert("RGB").crop(box).resize(size, Image.BILINEAR)
        if noise > 0:
            grain = rng.normal(0.0, noise, (size[1], size[0], 1))
            picture = Image.fromarray(np.clip(np.asarray(picture) + grain, 0, 255).astype(np.uint8), "RGB")
        truth = np.asarray(binary.crop(box).resize(size, Image.BILINEAR)) >= 128
        out.append((picture, truth))
    return out


def write_clip(path: Path, pictures: list[Image.Image], fps: int = 25, audio: bool = True) -> None:
    """Encode ``pictures`` as H.264 in an MP4 (with a 440 Hz AAC tone as long as the video when ``audio``)."""
    import av

    width, height = pictures[0].size
    with av.open(str(path), mode="w") as out:
        video = out.add_stream("libx264", rate=fps)
        video.width, video.height, video.pix_fmt = width, height, "yuv420p"
        video.options = {"crf": "18", "preset": "veryfast"}
        sound = out.add_stream("aac", rate=48000) if audio else None
        for i, picture in enumerate(pictures):
            frame = av.VideoFrame.from_image(picture).reformat(format="yuv420p")
            frame.pts = i
            frame.time_base = Fraction(1, fps)
            for packet in video.encode(frame):
                out.mux(packet)
        for packet in video.encode():
            out.mux(packet)
        if sound is not None:
            samples = 48000 * len(pictures) // fps
            tone = (0.2 * np.sin(2 * np.pi * 440 * np.arange(samples) / 48000)).astype(np.float32)
            for start in range(0, samples, 1024):
                chunk = tone[start:start + 1024][None, :]
                frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(chunk), format="fltp", layout="mono")
                frame.sample_rate = 48000
                frame.pts = start
                for packet in sound.encode(frame):
                    out.mux(packet)
            for packet in sound.encode():
                out.mux(packet)
