"""The pipeline's quantize step: every network the candidates name, to INT8 once, then onto each runtime.

Writes one directory: ``<network>-fp32-onnx/`` per network (the speed and agreement reference),
``<network>-int8-<runtime>/`` per candidate, and ``candidates.json`` (see ``candidates.py``). A network
whose quantization is refused (a ``UserError``: the FP32-agreement gate, too few images) or a runtime
that refuses a model marks those candidates failed with the reason, and the others go on; when every
candidate fails, the step fails with every reason. Any other exception is a bug and stops the step.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import shutil
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from personseg.atomic import atomic_dir, write_json
from personseg.errors import UserError
from personseg.quantize.config import QuantizeConfig
from personseg.steps.candidates import INDEX, NETWORKS, fp32_onnx_dir, parse_candidates
from personseg.steps.runtime_builders import BUILDERS, RuntimeSource

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class CandidatesConfig:
    """Which candidates to build, and how to quantize each network (``personseg.quantize.step.QuantizeConfig``)."""

    candidates: str
    data: str
    calibration: int = QuantizeConfig.calibration
    tolerable_iou_loss: float = QuantizeConfig.tolerable_iou_loss
    min_agreement: float = QuantizeConfig.min_agreement
    max_fallbacks: int = QuantizeConfig.max_fallbacks
    max_trials: int = QuantizeConfig.max_trials


def _source_settings(model: Path) -> dict[str, Any]:
    """The train/swap settings a network's saved model records, for the evaluate report."""
    config = json.loads((model / "config.json").read_text())
    return {k: config[k] for k in ("train", "swap") if k in config}


def _runtime_source(cfg: CandidatesConfig, network: Path, int8_dir: Path, fp32_dir: Path) -> RuntimeSource:
    """The images the network's INT8 model was calibrated and tuned on, as quantize chose them (only those are read)."""
    from personseg.modeldir import read_model_dir
    from personseg.quantize.calibration import as_inputs
    from personseg.quantize.export import ONNX_FILE
    from personseg.quantize.step import quantization_images
    from personseg.uris import local_dataset

    sets = quantization_images(local_dataset(cfg.data), read_model_dir(network).image_size, cfg.calibration)

    return RuntimeSource(int8_dir, fp32_dir / ONNX_FILE, as_inputs(sets.calibration), as_inputs(sets.tune),
                         sets.tune.labels, cfg.min_agreement)


def quantize_candidates(networks: Mapping[str, str | Path], cfg: CandidatesConfig, out: str | Path) -> dict[str, Any]:
    """Build every candidate of ``cfg.candidates`` into ``out``; returns the index written there.

    ``networks`` maps ``bilinear``/``swapped`` to FP32 PyTorch saved models.
    """
    from personseg.quantize.step import QuantizeConfig, export, run

    candidates = parse_candidates(cfg.candidates)
    wanted = list(dict.fromkeys(c.network for c in candidates))
    missing = [n for n in wanted if n not in networks]
    if missing:
        raise UserError(f"candidates {cfg.candidates!r}: no model given for network(s) {', '.join(missing)} "
                        f"(networks: {', '.join(NETWORKS)})")
    index: dict[str, Any] = {"config": dataclasses.asdict(cfg), "networks": {}, "candidates": []}
    with atomic_dir(out) as tmp, tempfile.TemporaryDirectory(prefix="personseg-candidates-") as work:
        sources: dict[str, RuntimeSource] = {}
        for network in wanted:
            model = Path(networks[network])
            export(str(model), tmp / fp32_onnx_dir(network))
            entry: dict[str, Any] = {"fp32_onnx": fp32_onnx_dir(network), "settings": _source_settings(model)}
            int8_dir = Path(work) / f"{network}-int8-onnx"
            qcfg = QuantizeConfig(model=str(model), data=cfg.data, calibration=cfg.calibration,
                                  tolerable_iou_loss=cfg.tolerable_iou_loss, min_agreement=cfg.min_agreement,
                                  max_fallbacks=cfg.max_fallbacks, max_trials=cfg.max_trials)
            try:
                entry.update(status="ok", quantize=run(qcfg, int8_dir))
                sources[network] = _runtime_source(cfg, model, int8_dir, tmp / fp32_onnx_dir(network))
            except UserError as exc:
                log.warning("quantize: network %s failed: %s", network, exc)
                entry.update(status="failed", reason=str(exc))
            index["networks"][network] = entry
        for cand in candidates:
            net = index["networks"][cand.network]
            row: dict[str, Any] = {"name": cand.name, "network": cand.network, "runtime": cand.runtime,
                                   "path": cand.model_dir, "fp32_onnx": net["fp32_onnx"],
                                   "quantize": net.get("quantize")}
            if net["status"] != "ok":
                row.update(status="failed", reason=net["reason"])
            else:
                try:
                    row.update(status="ok", runtime_metrics=BUILDERS[cand.runtime](sources[cand.network],
                                                                                   tmp / cand.model_dir))
                except UserError as exc:
                    log.warning("quantize: candidate %s failed on its runtime: %s", cand.name, exc)
                    shutil.rmtree(tmp / cand.model_dir, ignore_errors=True)  # no half-written model
                    row.update(status="failed", reason=f"{cand.runtime}: {exc}")
            index["candidates"].append(row)
        failed = [c for c in index["candidates"] if c["status"] != "ok"]
        if len(failed) == len(candidates):
            raise UserError("quantize: every candidate failed: " + "; ".join(f"{c['name']}: {c['reason']}"
                                                                              for c in failed))
        write_json(tmp / INDEX, index)
    return index


def scalar_metrics(index: dict[str, Any]) -> dict[str, float]:
    """Flat ``{name: number}`` for the step's KFP ``Metrics``: each network's tuning figures, candidates built."""
    out = {f"{key}_{network}": float(entry["quantize"][key]) for network, entry in index["networks"].items()
           if entry["status"] == "ok" for key in ("tune_iou_fp32", "tune_iou_int8", "agreement_iou")}
    out["candidates_built"] = float(sum(c["status"] == "ok" for c in index["candidates"]))
    return out
