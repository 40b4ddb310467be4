"""``benchmarks/real_photos.py``'s recipe syntax: NAME=COMPOSITE:PHOTOMETRIC[:BACKGROUND_HUE[:BACKGROUNDS]]."""

from __future__ import annotations

import pytest
from script_modules import load_script


def test_a_recipe_names_composite_photometric_and_optionally_the_hue_and_the_backgrounds():
    script = load_script("benchmarks/real_photos.py")
    parse, recipe = script.parse_recipe, script.Recipe
    assert parse("composite=0.5:0") == recipe("composite", 0.5, 0.0, 0.0, "")
    assert parse("hue=0.5:0.3:0.25") == recipe("hue", 0.5, 0.3, 0.25, "")
    assert parse("mine=0.5:0:0:/data/my:backgrounds") == recipe("mine", 0.5, 0.0, 0.0, "/data/my:backgrounds")
    for bad in ("bad=1", "=0.5:0", "x=0.5:0:0.5:", "x=a:0", "x0.5:0", "x=0.5:0:h:scenes"):
        with pytest.raises(SystemExit, match="NAME=COMPOSITE:PHOTOMETRIC"):
            parse(bad)
