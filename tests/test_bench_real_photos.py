"""``benchmarks/real_photos.py``'s pieces (``personseg.bench.real_photos``): recipe syntax, paired comparison."""

from __future__ import annotations

import pytest

from personseg.bench.real_photos import Recipe, paired, parse_recipe


def test_a_recipe_names_composite_photometric_and_optionally_the_hue_and_the_backgrounds():
    parse, recipe = parse_recipe, Recipe
    assert parse("composite=0.5:0") == recipe("composite", 0.5, 0.0, 0.0, "")
    assert parse("hue=0.5:0.3:0.25") == recipe("hue", 0.5, 0.3, 0.25, "")
    assert parse("mine=0.5:0:0:/data/my:backgrounds") == recipe("mine", 0.5, 0.0, 0.0, "/data/my:backgrounds")
    for bad in ("bad=1", "=0.5:0", "x=0.5:0:0.5:", "x=a:0", "x0.5:0", "x=0.5:0:h:scenes"):
        with pytest.raises(SystemExit, match="NAME=COMPOSITE:PHOTOMETRIC"):
            parse(bad)


def test_recipes_are_compared_with_the_first_paired_by_seed():
    base = [0.5103, 0.5361, 0.5865, 0.5589, 0.6120]  # the demo-budget study's plain composite, seeds 0-4
    scenes = [0.5102, 0.6139, 0.6276, 0.5861, 0.5857]
    runs = [{"recipe": "base", "seed": i, "real_iou": v} for i, v in enumerate(base)]
    runs += [{"recipe": "scenes", "seed": i, "real_iou": v} for i, v in enumerate(scenes)]
    runs += [{"recipe": "shifted", "seed": i, "real_iou": v + 0.03 + 0.001 * i} for i, v in enumerate(base[:3])]
    noisy, clear = paired(runs)
    assert noisy["recipe"] == "scenes" and noisy["against"] == "base" and noisy["seeds"] == 5
    assert noisy["mean_diff"] == pytest.approx(0.0239, abs=1e-4) and noisy["se"] == pytest.approx(0.0178, abs=1e-3)
    assert not noisy["resolvable"]  # +2.4 points with a 4-point spread between seeds
    assert clear["seeds"] == 3 and clear["mean_diff"] == pytest.approx(0.031) and clear["resolvable"]
    assert paired(runs[:5]) == []  # one recipe: nothing to compare
