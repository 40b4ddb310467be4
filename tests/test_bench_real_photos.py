"""``benchmarks/real_photos.py``'s recipe syntax: NAME=COMPOSITE:PHOTOMETRIC[:BACKGROUND_HUE]."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _module():
    spec = importlib.util.spec_from_file_location("real_photos_bench", ROOT / "benchmarks" / "real_photos.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_a_recipe_names_composite_photometric_and_optionally_the_background_hue():
    parse = _module().parse_recipe
    assert parse("composite=0.5:0") == ("composite", 0.5, 0.0, 0.0)
    assert parse("hue=0.5:0.3:0.25") == ("hue", 0.5, 0.3, 0.25)
    for bad in ("bad=1", "=0.5:0", "x=0.5:0:0.5:1", "x=a:0", "x0.5:0"):
        with pytest.raises(SystemExit, match="NAME=COMPOSITE:PHOTOMETRIC"):
            parse(bad)
