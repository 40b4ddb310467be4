"""Procedurally generated person-like figures over textured backgrounds, for tests and quick runs.

Each figure has a head, neck, torso, arms and legs in random pose, scale, clothing and skin colours;
backgrounds mix gradients, noise and distractor shapes so the task is not trivially colour-based.
"""

from __future__ import annotations

import json
import math
import random
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

from personseg.atomic import atomic_dir
from personseg.data.groups import CARD_FILE


def _colour(rng: random.Random, lo: int = 0, hi: int = 255) -> tuple[int, int, int]:
    return tuple(rng.randint(lo, hi) for _ in range(3))  # type: ignore[return-value]


def _background(rng: random.Random, size: int) -> Image.Image:
    a, b = np.array(_colour(rng), np.float32), np.array(_colour(rng), np.float32)
    t = np.linspace(0, 1, size, dtype=np.float32)
    grad = t[:, None, None] * a + (1 - t[:, None, None]) * b
    if rng.random() < 0.5:
        grad = grad.transpose(1, 0, 2)
    noise = np.random.default_rng(rng.randrange(2**32)).normal(0, rng.uniform(5, 30), (size, size, 3))
    img = Image.fromarray(np.clip(grad + noise, 0, 255).astype(np.uint8))
    draw = ImageDraw.Draw(img)
    for _ in range(rng.randint(2, 8)):  # distractors: boxes and blobs that are not people
        x0, y0 = rng.randrange(size), rng.randrange(size)
        w, h = rng.randint(size // 12, size // 3), rng.randint(size // 12, size // 3)
        shape = draw.rectangle if rng.random() < 0.5 else draw.ellipse
        shape([x0, y0, x0 + w, y0 + h], fill=_colour(rng))
    return img.filter(ImageFilter.GaussianBlur(rng.uniform(0, 1.5)))


def _limb(draw: ImageDraw.ImageDraw, start: tuple[float, float], angle: float, length: float, width: float,
          fill: int | tuple[int, int, int]) -> tuple[float, float]:
    end = (start[0] + length * math.sin(angle), start[1] + length * math.cos(angle))
    draw.line([start, end], fill=fill, width=max(1, int(width)))
    r = width / 2
    draw.ellipse([end[0] - r, end[1] - r, end[0] + r, end[1] + r], fill=fill)
    return end


def _figure(draw: ImageDraw.ImageDraw, rng: random.Random, size: int, fills: dict[str, int | tuple[int, int, int]],
            pose: dict[str, float]) -> None:
    s, cx, top = pose["scale"], pose["cx"], pose["top"]
    head_r = 0.07 * s
    torso_w, torso_h = 0.22 * s, 0.32 * s
    head_c = (cx, top + head_r)
    draw.ellipse([head_c[0] - head_r * 0.85, top, head_c[0] + head_r * 0.85, top + 2 * head_r], fill=fills["skin"])
    neck_y = top + 2 * head_r
    draw.rectangle([cx - head_r * 0.35, neck_y - 2, cx + head_r * 0.35, neck_y + 0.04 * s], fill=fills["skin"])
    t0 = neck_y + 0.03 * s
    draw.rounded_rectangle([cx - torso_w / 2, t0, cx + torso_w / 2, t0 + torso_h], radius=torso_w * 0.25,
                           fill=fills["shirt"])
    arm_w, leg_w = 0.06 * s, 0.08 * s
    for side in (-1, 1):
        shoulder = (cx + side * (torso_w / 2 - arm_w / 3), t0 + arm_w / 2)
        elbow = _limb(draw, shoulder, side * pose[f"arm{side}"], 0.16 * s, arm_w, fills["shirt"])
        _limb(draw, elbow, side * pose[f"fore{side}"], 0.15 * s, arm_w * 0.85, fills["skin"])
        hip = (cx + side * torso_w / 4, t0 + torso_h - leg_w / 2)
        knee = _limb(draw, hip, side * pose[f"leg{side}"], 0.2 * s, leg_w, fills["trousers"])
        _limb(draw, knee, side * pose[f"leg{side}"] * 0.5, 0.2 * s, leg_w * 0.9, fills["trousers"])


def make_sample(seed: int, size: int) -> tuple[Image.Image, Image.Image]:
    """One (RGB image, L mask with 255 = person) pair; the same seed gives the same pair."""
    rng = random.Random(seed)
    image = _background(rng, size)
    mask = Image.new("L", (size, size), 0)
    for _ in range(rng.choice((1, 1, 1, 2))):
        scale = size * rng.uniform(0.55, 1.05)
        pose = {"scale": scale, "cx": rng.uniform(0.2, 0.8) * size, "top": rng.uniform(-0.05, 0.3) * size}
        for side in (-1, 1):
            pose[f"arm{side}"] = rng.uniform(0.1, 1.6)
            pose[f"fore{side}"] = rng.uniform(-0.2, 2.2)
            pose[f"leg{side}"] = rng.uniform(0.0, 0.5)
        fills = {"skin": _colour(rng, 60, 240), "shirt": _colour(rng), "trousers": _colour(rng)}
        _figure(ImageDraw.Draw(image), rng, size, fills, pose)
        _figure(ImageDraw.Draw(mask), rng, size, {"skin": 255, "shirt": 255, "trousers": 255}, pose)
    return image, mask


def write_synthetic(out: str | Path, count: int, size: int, seed: int = 0, force: bool = False) -> Path:
    """Write ``count`` samples as a dataset folder at ``out`` (complete or absent; ``force`` replaces one)."""
    if count < 1 or size < 16:
        raise ValueError(f"count must be >= 1 and size >= 16 (got {count}, {size})")
    with atomic_dir(out, force) as tmp:
        (tmp / "images").mkdir()
        (tmp / "masks").mkdir()
        ids = [f"synth{n:05d}" for n in range(count)]
        for n, sample_id in enumerate(ids):
            image, mask = make_sample(seed * 1_000_003 + n, size)
            image.save(tmp / "images" / f"{sample_id}.jpg", quality=92)
            mask.save(tmp / "masks" / f"{sample_id}.png")
        # every figure is drawn afresh, so each is a person of its own: one group per id (data/groups.py)
        (tmp / CARD_FILE).write_text(json.dumps(
            {"source": "synthetic", "seed": seed, "groups": {i: [i] for i in ids}}, indent=1) + "\n")
    return Path(out)
