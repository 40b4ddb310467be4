"""One set of defaults per step: ``personseg train|swap|quantize|evaluate`` and the pipeline read the same config.

The values are the pipeline's measured demo recipe; a CLI flag and the pipeline parameter that set the
same thing must start from the same value, and name a swap design the same way.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest

from personseg.cli import build_parser, main
from personseg.quantize.config import QuantizeConfig
from personseg.steps.quantize import CandidatesConfig
from personseg_kfp.params import pipeline_inputs
from personseg_kfp.pipeline import person_segmentation

# pipeline parameter -> (command, the flag's dest) that sets the same value
SAME = {"image_size": ("train", "size"), "width": ("train", "width"), "epochs": ("train", "epochs"),
        "composite": ("train", "composite"), "photometric": ("train", "photometric"),
        "background_hue": ("train", "background_hue"), "backgrounds": ("train", "backgrounds"),
        "seed": ("train", "seed"), "swap_design": ("swap", "design"), "swap_epochs": ("swap", "epochs"),
        "calibration_size": ("quantize", "calibration"), "tolerable_iou_loss": ("quantize", "tolerable_iou_loss"),
        "eval_rounds": ("evaluate", "rounds")}


def _command(name: str) -> argparse.ArgumentParser:
    sub = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    return sub.choices[name]


def test_the_cli_and_the_pipeline_start_from_the_same_values() -> None:
    pipeline = {name: default for name, (_, default) in pipeline_inputs(person_segmentation).items()}
    differ = {param: (pipeline[param], _command(command).get_default(dest))
              for param, (command, dest) in SAME.items() if pipeline[param] != _command(command).get_default(dest)}
    assert differ == {}, "pipeline default vs CLI default"
    assert (pipeline["width"], pipeline["image_size"], pipeline["swap_design"]) == (16, 128, "lean4")


def test_the_pipelines_quantize_step_starts_from_quantizes_defaults() -> None:
    ours, step = CandidatesConfig(candidates="", data=""), QuantizeConfig(model="", data="")
    for field in ("calibration", "tolerable_iou_loss", "min_agreement", "max_fallbacks", "max_trials"):
        assert getattr(ours, field) == getattr(step, field), field


def test_swap_takes_the_pipelines_design_names(tiny_model: Path, tiny_dataset: Path, tmp_path: Path,
                                               capsys: pytest.CaptureFixture) -> None:
    out = tmp_path / "lean4"
    assert main(["swap", "--model", str(tiny_model), "--data", str(tiny_dataset), "--design", "lean4",
                 "--out", str(out)]) == 0
    config = json.loads((out / "config.json").read_text())
    assert (config["arch"]["design"], config["arch"]["squeeze"], config["swap"]["epochs"]) == ("lean", 4, 0)
    assert main(["swap", "--model", str(tiny_model), "--data", str(tiny_dataset), "--design", "lean4", "--squeeze",
                 "2", "--out", str(tmp_path / "x")]) == 2
    assert "two squeezes" in capsys.readouterr().err and not (tmp_path / "x").exists()
    assert main(["swap", "--model", str(tiny_model), "--data", str(tiny_dataset), "--design", "nearest",
                 "--out", str(tmp_path / "x")]) == 2
    assert "swap design 'nearest' unknown" in capsys.readouterr().err
