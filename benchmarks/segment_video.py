"""Video segmentation on a generated clip whose true mask is known: IoU, flicker and frames per second.

    PYTHONPATH=$PWD python benchmarks/segment_video.py --model runs/lean2-int8 --data runs/syn --frames 60

A photo of ``--data``'s test split and its mask are panned and zoomed slowly (``personseg.segment.clip``) into
``--frames`` frames of ``--size`` x ``--size`` with fresh grey noise (``--noise``, 0-255 scale) on each, and
encoded as H.264 with an AAC tone; a second clip holds the camera still. For each smoothing weight (``ALPHA``
of the moving average, 1 = none) it prints, against the true masks: the mean and lowest per-frame IoU, and the
frame-to-frame change (mean share of pixels whose mask differs from the previous frame's; the true masks'
own change is printed beside it, which is what the pan and zoom alone account for). Then frames per second
of the whole command (decode, model, smoothing, render, encode, audio) into ``.webm`` (cutout with alpha) and
``.mp4`` (composite), at the default smoothing.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from personseg.bench.segment_video import ALPHAS, change, measure, test_photo  # noqa: E402
from personseg.cpuinfo import cpu_info  # noqa: E402
from personseg.segment.clip import clip_frames, write_clip  # noqa: E402
from personseg.segment.engine import LocalEngine  # noqa: E402
from personseg.segment.video import segment_video  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True, help="saved-model directory, s3:// or models:/")
    parser.add_argument("--data", required=True, help="dataset folder (images/, masks/, split.json)")
    parser.add_argument("--id", help="image id (default: the first of the test split)")
    parser.add_argument("--frames", type=int, default=60)
    parser.add_argument("--size", type=int, default=256, help="frame side in pixels")
    parser.add_argument("--noise", type=float, default=6.0, help="grey noise per frame, standard deviation")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    print(f"cpu: {cpu_info().summary()}  load average at start: {os.getloadavg()[0]:.1f}")
    image_id, photo, mask = test_photo(Path(args.data), args.id)
    engine = LocalEngine(args.model, "mask", None, args.threads)
    print(f"model: {engine.description}, {engine.model.image_size} px, batch {engine.batch_size}, {args.threads} "
          f"threads; clip: {args.frames} frames of {args.size}x{args.size} from {image_id}, noise {args.noise}")
    with tempfile.TemporaryDirectory() as tmp:
        for name, motion in (("pan+zoom", {}), ("still", {"zoom": 0.0, "pan": 0.0})):
            frames = clip_frames(photo, mask, args.frames, (args.size, args.size), args.noise, **motion)
            clip = Path(tmp) / f"{name}.mp4"
            write_clip(clip, [p for p, _ in frames])
            truth = [t for _, t in frames]
            print(f"{name} clip: true masks change {change(truth):.2%} of pixels per frame")
            for alpha in ALPHAS:
                mean_iou, low_iou, flicker = measure(clip, truth, engine, alpha)
                label = "none" if alpha == 1.0 else f"EMA alpha {alpha}"
                print(f"  smoothing {label:<14} IoU mean {mean_iou:.4f}  min {low_iou:.4f}  "
                      f"frame-to-frame change {flicker:.2%}")
        clip = Path(tmp) / "pan+zoom.mp4"
        for suffix, output in ((".webm", "cutout"), (".mp4", "composite")):
            video_engine = LocalEngine(args.model, output, None, args.threads)
            result = segment_video(clip, Path(tmp) / f"out{suffix}", video_engine, output)
            print(f"segment -> {suffix} ({output}): {result.frames / result.seconds:.1f} frames/s "
                  f"({result.frames} frames in {result.seconds:.2f} s), audio {result.audio}")
    print(f"load average at end: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
