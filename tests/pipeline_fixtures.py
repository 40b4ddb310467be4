"""Shared pieces of the pipeline tests: the checkout on sys.path and the tiny run parameters."""

from __future__ import annotations

from personseg.commands.pipeline import project_root

ROOT = project_root()  # puts pipelines/ and components/ on sys.path, as the CLI does

TINY_PARAMS = {"dataset_uri": "synthetic:16", "image_size": 64, "width": 8, "epochs": 1, "swap_epochs": 1,
               "calibration_size": 8, "eval_rounds": 2, "model_name": "tiny-seg"}
