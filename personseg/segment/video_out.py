"""Where a segmented video goes: a WebM with alpha, an MP4 over a colour, or a folder of PNG frames.

- ``.webm``: VP9 (``yuva420p``), the cutout's alpha kept (or the mask as grey video);
- ``.mp4``: H.264 (``yuv420p``), the person composited over a colour (or the mask);
- anything else is a folder of ``frame_000001.png`` ... (RGBA cutouts, masks or composites).
Audio is copied packet for packet when the container takes its codec, else re-encoded (Opus in WebM, AAC in MP4).
"""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from personseg.errors import UserError

CONTAINERS = {".webm": ("libvpx-vp9", "yuva420p", "libopus"), ".mp4": ("libx264", "yuv420p", "aac")}
AUDIO_OK = {".webm": {"opus", "vorbis"}, ".mp4": {"aac", "mp3", "opus", "alac", "ac3"}}
DEFAULT_OUTPUT = {".webm": "cutout", ".mp4": "composite", "": "cutout"}


def kind_of(out: Path) -> str:
    """``.webm``, ``.mp4`` or ``""`` (a PNG folder) for the output path."""
    suffix = out.suffix.lower()
    return suffix if suffix in CONTAINERS else ""


def check_container(kind: str, output: str) -> None:
    """Refuse an output a container cannot carry (a cutout's alpha in H.264)."""
    if kind == ".mp4" and output == "cutout":
        raise UserError("an .mp4 has no alpha channel: use --output composite (over --background) or mask, "
                        "or write .webm or a PNG folder for a cutout")


class VideoWriter:
    """Encodes frames (and copies audio) into a ``.webm`` or ``.mp4`` file being written at ``path``."""

    def __init__(self, path: Path, kind: str, width: int, height: int, rate: Fraction | None,
                 time_base: Fraction, audio: Any | None) -> None:
        import av

        codec, self.pix_fmt, audio_codec = CONTAINERS[kind]
        self.container = av.open(str(path), mode="w", format="webm" if kind == ".webm" else "mp4")
        self.stream = self.container.add_stream(codec, rate=rate or Fraction(25))
        self.stream.width, self.stream.height = width - width % 2, height - height % 2
        self.stream.pix_fmt = self.pix_fmt
        self.stream.time_base = self.time_base = time_base  # the muxer may change the stream's; frames keep this
        if kind == ".webm":
            self.stream.options = {"crf": "30", "b": "0", "deadline": "realtime", "cpu-used": "8"}
        else:
            self.stream.options = {"crf": "20", "preset": "veryfast"}
        self.audio_in = audio
        self.audio_copy = audio is not None and audio.codec_context.name in AUDIO_OK[kind]
        self.audio_out = None
        if audio is not None:
            if self.audio_copy:
                self.audio_out = self.container.add_stream_from_template(audio)
            else:
                self.audio_out = self.container.add_stream(audio_codec, rate=48000 if kind == ".webm" else audio.rate)

    def frame(self, image: Image.Image, pts: int | None) -> None:
        """Encode one RGB or RGBA picture at ``pts`` (in the input stream's time base)."""
        import av

        if image.size != (self.stream.width, self.stream.height):
            image = image.crop((0, 0, self.stream.width, self.stream.height))
        rgba = image.mode == "RGBA"  # VideoFrame.from_image would drop the alpha
        frame = av.VideoFrame.from_ndarray(np.asarray(image.convert("RGBA" if rgba else "RGB")),
                                           format="rgba" if rgba else "rgb24").reformat(format=self.pix_fmt)
        frame.pts = pts
        frame.time_base = self.time_base
        for packet in self.stream.encode(frame):
            self.container.mux(packet)

    def audio(self, packet: Any) -> None:
        """Copy one audio packet, or decode and re-encode it."""
        if self.audio_out is None:
            return
        if self.audio_copy:
            if packet.dts is None:
                return
            packet.stream = self.audio_out
            self.container.mux(packet)
            return
        for frame in packet.decode():
            frame.pts = None
            for out in self.audio_out.encode(frame):
                self.container.mux(out)

    def close(self) -> None:
        """Flush the encoders and finish the file."""
        for packet in self.stream.encode():
            self.container.mux(packet)
        if self.audio_out is not None and not self.audio_copy:
            for packet in self.audio_out.encode():
                self.container.mux(packet)
        self.container.close()


class PngWriter:
    """Writes ``frame_000001.png``, ... into the folder being built."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.count = 0

    def frame(self, image: Image.Image, pts: int | None) -> None:
        """Write the next frame."""
        self.count += 1
        image.save(self.folder / f"frame_{self.count:06d}.png", compress_level=1)

    def audio(self, packet: Any) -> None:
        """A PNG sequence carries no audio."""

    def close(self) -> None:
        """Nothing to flush."""
