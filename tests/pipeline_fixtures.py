"""Shared pieces of the pipeline tests: the checkout's root and the tiny run parameters."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

TINY_PARAMS = {"dataset_uri": "synthetic:16", "image_size": 64, "width": 8, "epochs": 1, "swap_epochs": 1,
               "calibration_size": 8, "eval_rounds": 2, "model_name": "tiny-seg"}
