"""Segment a video: decode with PyAV, run frames through the model in batches, smooth over time, encode.

The model runs on batches of ``engine.batch_size`` frames; probabilities are smoothed at the model's input
resolution (``personseg.segment.smoothing``) before being mapped back to the frame, then rendered with the
server's ``compose`` (mask, cutout or composite). The output is built under a temporary name beside its
final one and renamed into place when complete.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from personseg.atomic import atomic_dir, check_file
from personseg.errors import UserError
from personseg.imageops import sigmoid, unletterbox
from personseg.segment.smoothing import Smoother
from personseg.segment.video_out import DEFAULT_OUTPUT, PngWriter, VideoWriter, check_container, kind_of
from personseg.serving import compose

VIDEO_SUFFIXES = (".mp4", ".mov", ".mkv", ".webm", ".avi", ".m4v")


def is_video(path: str) -> bool:
    """True when ``path`` names a local video file by its suffix."""
    return Path(path).suffix.lower() in VIDEO_SUFFIXES


@dataclass(frozen=True)
class VideoResult:
    """What was written: frames, seconds spent, and whether audio went through (``copied``/``re-encoded``)."""

    frames: int
    seconds: float
    audio: str

    def summary(self) -> str:
        """The one line printed at the end."""
        fps = self.frames / self.seconds if self.seconds > 0 else 0.0
        return f"{self.frames} frames written, {fps:.1f} frames/s, audio {self.audio}"


def smoothed_probabilities(engine: Any, frames: Iterator[Image.Image], smoother: Smoother
                           ) -> Iterator[tuple[Image.Image, np.ndarray]]:
    """Each frame with its smoothed (height, width) person probabilities, the model run a batch at a time."""
    model = engine.model
    batch: list[Image.Image] = []

    def flush() -> Iterator[tuple[Image.Image, np.ndarray]]:
        prepared = [model.preprocess(im) for im in batch]
        logits = model.predict(np.stack([p.tensor for p in prepared]))
        for i, p in enumerate(prepared):
            prob = smoother.update(sigmoid(logits[i, 0]))
            yield batch[i], unletterbox(prob, p.box, p.width, p.height)

    for frame in frames:
        batch.append(frame)
        if len(batch) == engine.batch_size:
            yield from flush()
            batch = []
    if batch:
        yield from flush()


def _render(output: str, image: Image.Image, prob: np.ndarray, background: tuple[int, int, int], alpha: str
            ) -> Image.Image:
    if output == "mask":
        return compose.mask_image(prob).convert("RGB")
    if output == "probability":
        return compose.probability_image(prob).convert("RGB")
    if output == "cutout":
        return compose.cutout(image, prob, alpha)
    return compose.composite(image, prob, background, alpha)


def _temporary(out: Path) -> Path:
    return out.with_name(f".{out.name}.tmp-{os.getpid()}{out.suffix}")


def segment_video(source: Path, out: Path, engine: Any, output: str | None = None,
                  background: tuple[int, int, int] = (0, 255, 0), alpha: float = 0.5, force: bool = False,
                  matte: str = "clean", on_frame: Callable[[int, int], None] | None = None) -> VideoResult:
    """Segment every frame of ``source`` into ``out`` (``.webm``, ``.mp4`` or a PNG folder).

    An existing ``out`` is refused unless ``force`` (``personseg.atomic``'s rule); a PNG folder is built with
    ``atomic_dir``, a video file under a hidden temporary name renamed over ``out`` when complete. ``alpha``
    is the smoothing weight (``personseg.segment.smoothing``), ``matte`` the cutout's alpha (``clean`` or ``soft``).
    """
    kind = kind_of(out)
    output = output or DEFAULT_OUTPUT[kind]
    check_container(kind, output)
    if kind:
        check_file(out, force)
        return _encode(source, out, kind, engine, output, (background, matte), alpha, on_frame, _temporary(out))
    with atomic_dir(out, force) as folder:
        return _encode(source, out, kind, engine, output, (background, matte), alpha, on_frame, folder)


def _encode(source: Path, out: Path, kind: str, engine: Any, output: str, look: tuple[tuple[int, int, int], str],
            alpha: float, on_frame: Callable[[int, int], None] | None, tmp: Path) -> VideoResult:
    import av

    try:
        container = av.open(str(source))
    except (av.error.FFmpegError, OSError) as exc:
        raise UserError(f"video {source}: cannot open ({exc})") from None
    if not container.streams.video:
        raise UserError(f"video {source}: no video stream")
    vin = container.streams.video[0]
    ain = container.streams.audio[0] if container.streams.audio else None
    total = vin.frames or 0
    start = time.perf_counter()
    count = 0
    pts: list[int | None] = []
    try:
        if kind:
            writer: Any = VideoWriter(tmp, kind, vin.codec_context.width, vin.codec_context.height,
                                      vin.average_rate, vin.time_base, ain)
        else:
            writer = PngWriter(tmp)

        def frames() -> Iterator[Image.Image]:
            streams = [s for s in (vin, ain) if s is not None]
            for packet in container.demux(*streams):
                if packet.stream is ain:
                    writer.audio(packet)
                    continue
                for frame in packet.decode():
                    pts.append(frame.pts)
                    yield frame.to_image()

        for image, prob in smoothed_probabilities(engine, frames(), Smoother(alpha)):
            writer.frame(_render(output, image, prob, *look), pts[count])
            count += 1
            if on_frame is not None:
                on_frame(count, total)
        writer.close()
        if count == 0:
            raise UserError(f"video {source}: no frame could be decoded")
    except av.error.FFmpegError as exc:
        if kind:
            tmp.unlink(missing_ok=True)
        raise UserError(f"video {source}: {exc}") from None
    except BaseException:
        if kind:
            tmp.unlink(missing_ok=True)
        raise
    finally:
        container.close()
    if kind:
        os.replace(tmp, out)
    audio = "none" if ain is None else ("dropped (PNG frames)" if not kind else
                                        "copied" if writer.audio_copy else "re-encoded")
    return VideoResult(count, time.perf_counter() - start, audio)

