"""``personseg segment`` on a video: output containers, frame count and size, audio kept, temporal smoothing.

The clip is generated (``personseg.segment.clip``): a photo with a known mask, panned and zoomed slowly, with
fresh grey noise on every frame and a tone as audio, encoded with the real FFmpeg inside PyAV. The model is
the tiny real ONNX model (bright pixels are person).
"""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np
import pytest
from PIL import Image
from serving_fixtures import make_tiny_model

from personseg.cli import main
from personseg.segment.clip import clip_frames, write_clip
from personseg.segment.engine import LocalEngine
from personseg.segment.smoothing import Smoother
from personseg.segment.video import smoothed_probabilities

FRAMES = 12
SIZE = (96, 64)


def scene() -> tuple[Image.Image, Image.Image]:
    """A person (a block just brighter than mid-grey) on a background just darker."""
    picture = np.full((120, 160, 3), 100, dtype=np.uint8)
    picture[20:110, 50:100] = 155
    mask = np.zeros((120, 160), dtype=np.uint8)
    mask[20:110, 50:100] = 255
    return Image.fromarray(picture), Image.fromarray(mask)


@pytest.fixture(scope="module")
def clip(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("clip") / "clip.mp4"
    write_clip(path, [p for p, _ in clip_frames(*scene(), FRAMES, SIZE, noise=40.0)])
    return path


@pytest.fixture(scope="module")
def model(tmp_path_factory) -> Path:
    return make_tiny_model(tmp_path_factory.mktemp("model") / "tiny")


def streams(path: Path) -> tuple[list[np.ndarray], dict[str, str], int]:
    """Decoded RGBA frames (VP9 alpha through libvpx), stream metadata and audio samples."""
    with av.open(str(path)) as container:
        video = container.streams.video[0]
        # FFmpeg's own VP9 decoder drops the alpha plane; libvpx's keeps it.
        decoder = (av.codec.CodecContext.create("libvpx-vp9", "r") if video.codec_context.name == "vp9"
                   else video.codec_context)
        frames = []
        for packet in container.demux(video):
            frames += [f.to_ndarray(format="rgba") for f in decoder.decode(packet)]
        metadata = dict(video.metadata)
    with av.open(str(path)) as container:
        samples = sum(f.samples for f in container.decode(audio=0)) if container.streams.audio else 0
    return frames, metadata, samples


def audio_packets(path: Path) -> list[bytes]:
    with av.open(str(path)) as container:
        return [bytes(p) for p in container.demux(audio=0) if p.size]


def test_webm_keeps_frames_size_alpha_and_audio(clip, model, tmp_path, capsys):
    out = tmp_path / "out.webm"
    assert main(["segment", str(clip), "--out", str(out), "--model", str(model)]) == 0
    frames, metadata, samples = streams(out)
    assert len(frames) == FRAMES and frames[0].shape == (SIZE[1], SIZE[0], 4)
    assert metadata.get("alpha_mode") == "1"
    alpha = np.stack([f[..., 3] for f in frames])
    assert alpha.min() < 64 and alpha.max() > 192, "the cutout's alpha must separate person from background"
    _, _, clip_samples = streams(clip)
    assert samples >= clip_samples * 0.95, "the audio (re-encoded AAC -> Opus for WebM) must last as long"
    assert "12 frames written" in capsys.readouterr().out


def test_mp4_composite_copies_the_audio(clip, model, tmp_path):
    out = tmp_path / "green.mp4"
    assert main(["segment", str(clip), "--out", str(out), "--model", str(model), "--background", "0000ff"]) == 0
    frames, _, _ = streams(out)
    assert len(frames) == FRAMES and frames[0].shape[:2] == (SIZE[1], SIZE[0])
    assert frames[FRAMES // 2][2, 2, 2] > 150 > frames[FRAMES // 2][2, 2, 0], "background corner is blue"
    assert audio_packets(out) == audio_packets(clip), "AAC goes into an MP4 packet for packet"


def test_png_folder_and_existing_output(clip, model, tmp_path, capsys):
    out = tmp_path / "frames"
    assert main(["segment", str(clip), "--out", str(out), "--model", str(model), "--output", "mask"]) == 0
    names = sorted(p.name for p in out.iterdir())
    assert names == [f"frame_{i:06d}.png" for i in range(1, FRAMES + 1)]
    with Image.open(out / names[0]) as first:
        assert first.size == SIZE
    (out / "mine.txt").write_text("keep me")
    assert main(["segment", str(clip), "--out", str(out), "--model", str(model)]) == 2
    assert "already exists" in capsys.readouterr().err
    assert (out / "mine.txt").read_text() == "keep me"
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")], "a temporary output was left behind"


def test_an_existing_video_is_replaced_only_with_force(clip, model, tmp_path, capsys):
    out = tmp_path / "out.webm"
    out.write_bytes(b"the user's own file")
    assert main(["segment", str(clip), "--out", str(out), "--model", str(model)]) == 2
    assert "--force" in capsys.readouterr().err and out.read_bytes() == b"the user's own file"
    assert main(["segment", str(clip), "--out", str(out), "--model", str(model), "--force"]) == 0
    assert len(streams(out)[0]) == FRAMES


def test_a_file_that_is_not_a_video_is_named(model, tmp_path, capsys):
    bad = tmp_path / "broken.mp4"
    bad.write_bytes(b"\x00" * 100)
    assert main(["segment", str(bad), "--out", str(tmp_path / "o.webm"), "--model", str(model)]) == 2
    assert "broken.mp4" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == [bad], "nothing may be left behind"


def test_mp4_cannot_hold_a_cutout(clip, model, tmp_path, capsys):
    assert main(["segment", str(clip), "--out", str(tmp_path / "o.mp4"), "--model", str(model),
                 "--output", "cutout"]) == 2
    assert "no alpha channel" in capsys.readouterr().err


def frame_change(masks: list[np.ndarray]) -> float:
    """Mean share of pixels whose mask value differs from the previous frame's."""
    return float(np.mean([np.mean(a != b) for a, b in zip(masks, masks[1:])]))


def test_smoothing_reduces_frame_to_frame_change(clip, model):
    engine = LocalEngine(str(model), "mask", None, 1)

    def masks(alpha: float) -> list[np.ndarray]:
        with av.open(str(clip)) as container:
            frames = (f.to_image() for f in container.decode(video=0))
            return [prob >= 0.5 for _, prob in smoothed_probabilities(engine, frames, Smoother(alpha))]

    raw, smooth = masks(1.0), masks(0.5)
    assert len(raw) == len(smooth) == FRAMES
    assert frame_change(raw) > 0.02, "the generated clip must flicker without smoothing, or this test shows nothing"
    assert frame_change(smooth) < 0.6 * frame_change(raw)


def test_a_video_needs_the_model_here(clip, tmp_path, capsys):
    assert main(["segment", str(clip), "--out", str(tmp_path / "o.webm"), "--model", "http://127.0.0.1:9"]) == 2
    assert "probabilities" in capsys.readouterr().err
