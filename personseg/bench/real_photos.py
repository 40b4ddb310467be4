"""Augmentation recipes compared on real photographs, the pieces of ``benchmarks/real_photos.py``.

A recipe's syntax, an FP32 model's score on a split, and the comparison of recipes over seeds: each
one's mean and spread, and each against the first paired by seed (same seed, same initial weights and
sample order), with whether the difference exceeds twice its standard error.
"""

from __future__ import annotations

import dataclasses
import statistics
from pathlib import Path


@dataclasses.dataclass(frozen=True)
class Recipe:
    """One ``--recipe``: the augmentation settings ``personseg train`` gets."""

    name: str
    composite: float
    photometric: float
    background_hue: float = 0.0
    backgrounds: str = ""


def parse_recipe(text: str) -> Recipe:
    """``NAME=COMPOSITE:PHOTOMETRIC[:BACKGROUND_HUE[:BACKGROUNDS]]`` -> a ``Recipe``."""
    name, sep, values = text.partition("=")
    parts = values.split(":", 3)
    try:
        if not (sep and name and len(parts) >= 2) or (len(parts) == 4 and not parts[3]):
            raise ValueError
        return Recipe(name, float(parts[0]), float(parts[1]), float(parts[2]) if len(parts) > 2 else 0.0,
                      parts[3] if len(parts) > 3 else "")
    except ValueError:
        raise SystemExit(f"--recipe {text!r}: expected NAME=COMPOSITE:PHOTOMETRIC[:BACKGROUND_HUE[:BACKGROUNDS]], "
                         "e.g. composite=0.5:0.3, hue=0.5:0:0.5 or scenes=0.5:0:0:scenes") from None


def score(model: Path, uri: str, split: str) -> float:
    """Mean IoU of the FP32 model at ``model`` on ``split`` of ``uri`` (as ``personseg evaluate`` scores)."""
    from personseg.evaluate.step import score_on, scored_images
    from personseg.runtime import load_predictor

    pred = load_predictor(model)
    return float(score_on(pred, scored_images(uri, pred.info.image_size, split), 8)["iou"])


def summary(runs: list[dict]) -> list[dict]:
    """Per recipe: mean and min-max over seeds on the demo test split and the real photographs."""
    out = []
    for name in dict.fromkeys(r["recipe"] for r in runs):
        mine = [r for r in runs if r["recipe"] == name]
        row = {"recipe": name, "seeds": len(mine)}
        for key in ("demo_test_iou", "real_iou", "train_seconds"):
            values = [r[key] for r in mine]
            row[key] = {"mean": statistics.fmean(values), "min": min(values), "max": max(values)}
        out.append(row)
    return out


def paired(runs: list[dict], key: str = "real_iou") -> list[dict]:
    """Each recipe after the first against the first, on the seeds both ran: mean difference, SE, resolvable.

    ``resolvable``: |mean| > 2 SE (about a 95 % interval excluding zero); needs at least 2 common seeds.
    """
    names = list(dict.fromkeys(r["recipe"] for r in runs))
    if not names:
        return []
    base = {r["seed"]: r[key] for r in runs if r["recipe"] == names[0]}
    out = []
    for name in names[1:]:
        diffs = [r[key] - base[r["seed"]] for r in runs if r["recipe"] == name and r["seed"] in base]
        se = statistics.stdev(diffs) / len(diffs) ** 0.5 if len(diffs) > 1 else float("nan")
        out.append({"recipe": name, "against": names[0], "seeds": len(diffs),
                    "mean_diff": statistics.fmean(diffs) if diffs else float("nan"), "se": se,
                    "resolvable": bool(len(diffs) > 1 and abs(statistics.fmean(diffs)) > 2 * se)})
    return out
