"""``benchmarks/real_photos.py``'s recipe syntax: NAME=COMPOSITE:PHOTOMETRIC[:BACKGROUND_HUE]."""

from __future__ import annotations

import pytest
from script_modules import load_script


def test_a_recipe_names_composite_photometric_and_optionally_the_background_hue():
    parse = load_script("benchmarks/real_photos.py").parse_recipe
    assert parse("composite=0.5:0") == ("composite", 0.5, 0.0, 0.0)
    assert parse("hue=0.5:0.3:0.25") == ("hue", 0.5, 0.3, 0.25)
    for bad in ("bad=1", "=0.5:0", "x=0.5:0:0.5:1", "x=a:0", "x0.5:0"):
        with pytest.raises(SystemExit, match="NAME=COMPOSITE:PHOTOMETRIC"):
            parse(bad)
