"""``benchmarks/cutout_alpha.py``: on the real photos, clean alpha is 0 or 255 away from the edge and cuts as before."""

from __future__ import annotations

import json
from pathlib import Path

from script_modules import load_script
from serving_fixtures import make_tiny_model


def test_clean_alpha_has_no_partial_pixel_far_from_the_edge_and_the_same_iou(tmp_path: Path, capsys) -> None:
    script = load_script("benchmarks/cutout_alpha.py")
    assert script.main(["--model", str(make_tiny_model(tmp_path / "tiny")), "--json", str(tmp_path / "out.json")]) == 0
    figures = json.loads((tmp_path / "out.json").read_text())
    soft, clean = figures["pooled"]["soft"], figures["pooled"]["clean"]
    assert soft["partial_far_share"] > 0.3 and clean["partial_far_share"] == 0.0
    assert clean["background_opacity"] == 0.0 < soft["background_opacity"]
    assert [r["clean"]["iou"] for r in figures["rows"]] == [r["soft"]["iou"] for r in figures["rows"]]
    assert len(figures["rows"]) == 4 and "grace_hopper" in capsys.readouterr().out
