"""``personseg quantize``: FP32 PyTorch model -> INT8 ONNX model, tuned on IoU and gated on FP32 masks.

1. Export to ONNX; calibrate on training images (never the test split).
2. INC's accuracy-aware tuning, its eval function the IoU on val (then uncalibrated training images).
   ``tolerable_iou_loss`` is absolute IoU points, as the deploy gate reads it; INC's tolerance is
   relative, so it gets ``tolerable_iou_loss / FP32 IoU`` on the same tuning images.
3. The gate: INT8 masks must agree with FP32 masks (IoU >= ``min_agreement``). Accuracy-driven tuning
   can miss a broken INT8 kernel (fbgemm's ConvTranspose2d did exactly that), so when the gate fails,
   each quantized op type is tried in FP32 and the one that restores agreement is kept in FP32.
   The precision recorded is what the written model holds (``precision.py``): when the fallbacks leave
   no INT8 op, it is "fp32" and a warning says so.
4. ``runtime="openvino"``: the gated INT8 ONNX then becomes an OpenVINO IR (``openvino_model.py``).
"""

from __future__ import annotations

import dataclasses
import logging
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import onnx

from personseg.atomic import atomic_dir, check_output, write_json
from personseg.console.progress import progress
from personseg.cpuquota import default_threads
from personseg.data.prescan import listed
from personseg.data.split import split_ids
from personseg.data.stream import load_all
from personseg.errors import UserError
from personseg.hashing import tree_sha256
from personseg.modeldir import ModelInfo, read_model_dir, write_config
from personseg.quality import agreement_iou, mean_scores
from personseg.quantize.calibration import QuantSets, as_inputs, calibration_sha256, choose
from personseg.quantize.config import QuantizeConfig
from personseg.quantize.export import ONNX_FILE, export_onnx
from personseg.quantize.fallback import Agreed, quantize_until_agreed
from personseg.quantize.onnx_backend import OnnxQuantSettings, quantize_onnx
from personseg.quantize.ort_graph import executed_nodes, fp32_nodes
from personseg.quantize.precision import Precision, measure, quantized_op_count
from personseg.runtime import predict_masks
from personseg.runtime.onnx import onnx_session
from personseg.uris import local_dataset, local_model

log = logging.getLogger(__name__)
BACKENDS = ("onnxruntime",)
QUANTIZED_RUNTIMES = ("onnxruntime", "openvino")


def _session_masks(model_path: str, images: np.ndarray) -> np.ndarray:
    sess = onnx_session(model_path, default_threads())
    name = sess.get_inputs()[0].name
    return predict_masks(lambda batch: sess.run(None, {name: batch})[0], images)


def relative_tolerance(absolute: float, fp32_iou: float) -> float:
    """INC's relative loss allowance that equals ``absolute`` IoU points at ``fp32_iou``.

    When FP32 scores no more than ``absolute`` (an untrained model), no INT8 result can lose more, so
    the allowance is everything (INC needs it below 1).
    """
    return 0.999 if fp32_iou <= absolute else min(absolute / fp32_iou, 0.999)


def quantization_images(root: Path, size: int, count: int) -> QuantSets:
    """The calibration and tuning images (``choose``), decoded at ``size``: no other file of the dataset is opened.

    So memory and reading stay flat in the dataset's size; a bad file among these is an error naming it.
    """
    data = listed(root, size)
    sets = choose(data, split_ids(data.ids, root), count)
    return QuantSets(load_all(sets.calibration), load_all(sets.tune), sets.sizes)


def _check(cfg: QuantizeConfig) -> None:
    """Refuse a backend, runtime or threshold the step cannot use, naming the flag."""
    if cfg.backend not in BACKENDS:
        raise UserError(f"--backend {cfg.backend!r}: available backends are {', '.join(BACKENDS)}")
    if cfg.runtime not in QUANTIZED_RUNTIMES:
        raise UserError(f"--runtime {cfg.runtime!r}: available runtimes are {', '.join(QUANTIZED_RUNTIMES)}")
    if not 0 <= cfg.tolerable_iou_loss < 1 or not 0 < cfg.min_agreement <= 1:
        raise UserError(f"--tolerable-iou-loss {cfg.tolerable_iou_loss} must be in [0, 1) (absolute IoU points) "
                        f"and --min-agreement {cfg.min_agreement} in (0, 1]")


def _fp32_source(cfg: QuantizeConfig) -> ModelInfo:
    """The FP32 PyTorch saved model to quantize (the output of train or swap)."""
    info = read_model_dir(local_model(cfg.model))
    if info.kind != "torch" or info.precision != "fp32":
        raise UserError(f"--model {cfg.model}: is a {info.kind} {info.precision} model; quantize takes an FP32 "
                        "PyTorch saved model (the output of train or swap)")
    return info


@dataclass
class _Tuning:
    """One network's FP32 ONNX, the images INT8 is calibrated and tuned on, and the FP32 masks it must match."""

    fp32_path: Path
    calib_x: np.ndarray
    tune_x: np.ndarray
    labels: np.ndarray
    fp32_masks: np.ndarray
    max_trials: int
    settings: OnnxQuantSettings | None = None  # set once the FP32 model's IoU is known
    evaluations: int = 0  # INC evaluates the FP32 baseline, then each trial (at most max_trials)

    def score(self, masks: np.ndarray) -> float:
        """IoU of ``masks`` on the tuning images."""
        return mean_scores(masks, self.labels, boundary=False)["iou"]

    def eval_fn(self, model_path: str) -> float:
        """INC's accuracy callback: IoU of a trial model on the tuning images."""
        self.evaluations += 1
        progress("quantize: tuning evaluation", self.evaluations, max(self.evaluations, self.max_trials + 1))
        return self.score(_session_masks(model_path, self.tune_x))

    def attempt(self, path: Path, exclude: set[str]) -> tuple[dict[str, Any], np.ndarray, float]:
        """Quantize into ``path`` with ``exclude`` kept in FP32: the configuration, tuning masks, agreement."""
        used = quantize_onnx(self.fp32_path, path, self.calib_x, self.eval_fn, self.settings, exclude)
        masks = _session_masks(str(path), self.tune_x)
        return used, masks, agreement_iou(masks, self.fp32_masks, self.labels)


def _settings(cfg: QuantizeConfig, fp32_iou: float) -> OnnxQuantSettings:
    """INC's tuning settings, its tolerance relative to the FP32 model's IoU."""
    return OnnxQuantSettings(tolerable_loss=relative_tolerance(cfg.tolerable_iou_loss, fp32_iou),
                             max_trials=cfg.max_trials, tolerable_iou_loss=cfg.tolerable_iou_loss,
                             fp32_input_convs=cfg.fp32_input_convs, reduce_range=cfg.reduce_range)


def _int8_card(cfg: QuantizeConfig, info: ModelInfo, sets: QuantSets, agreed: Agreed, runs_fp32: list[str],
               precision: Precision, data_sha: str) -> dict[str, Any]:
    """The INT8 model's card fields: the configuration used and the images and data it came from."""
    calib = sets.calibration
    return {"quantization": {**agreed.used, "fp32_nodes": runs_fp32, **precision.to_dict(),
                             "min_agreement": cfg.min_agreement, "config": dataclasses.asdict(cfg)},
            "calibration": {"sha256": calibration_sha256(calib, data_sha), "count": len(calib.ids), "ids": calib.ids},
            "tuning": {**sets.sizes, "ids": sets.tune.ids},
            "data": {"uri": str(cfg.data), "sha256": data_sha},
            "source": {"uri": str(cfg.model), "arch": info.arch}}


def _write_int8(out: str | Path, force: bool, q_model: onnx.ModelProto, info: ModelInfo, precision: str,
                card: dict[str, Any], metrics: dict[str, Any]) -> None:
    """The INT8 ONNX saved model: written whole at ``out`` or not at all."""
    with atomic_dir(out, force) as tmp:
        onnx.save_model(q_model, str(tmp / ONNX_FILE))
        write_config(tmp, kind="onnx", precision=precision, weights=ONNX_FILE, image_size=info.image_size,
                     arch=info.arch, extra=card)
        write_json(tmp / "metrics.json", metrics)


def run(cfg: QuantizeConfig, out: str | Path, force: bool = False) -> dict:
    """Quantize ``cfg.model`` and write the INT8 saved model at ``out``; returns its metrics."""
    check_output(out, force)
    _check(cfg)
    info = _fp32_source(cfg)
    root = local_dataset(cfg.data)
    sets = quantization_images(root, info.image_size, cfg.calibration)
    log.info("quantize: calibrating on %d training images, tuning on %d (%d val)", sets.sizes["calibration"],
             sets.sizes["tune"], sets.sizes["tune_from_val"])
    calib_x, tune_x = as_inputs(sets.calibration), as_inputs(sets.tune)
    with tempfile.TemporaryDirectory(prefix="personseg-quant-") as work:
        fp32_dir = Path(work) / "fp32"
        fp32_dir.mkdir()
        fp32_path = export_onnx(info, fp32_dir)
        tuning = _Tuning(fp32_path, calib_x, tune_x, sets.tune.labels, _session_masks(str(fp32_path), tune_x),
                         cfg.max_trials)
        fp32_iou = tuning.score(tuning.fp32_masks)
        tuning.settings = _settings(cfg, fp32_iou)
        q_path = Path(work) / ONNX_FILE
        agreed = quantize_until_agreed(tuning.attempt, q_path, cfg.min_agreement, cfg.max_fallbacks)
        q_model = onnx.load(str(q_path))
        runs_fp32 = fp32_nodes(q_path)  # what ONNX Runtime executes on float, after its fusions
        precision = measure(quantized_op_count(q_model), executed_nodes(q_path))
        if precision.warning("quantize"):
            log.warning("%s", precision.warning("quantize"))
        card = _int8_card(cfg, info, sets, agreed, runs_fp32, precision, tree_sha256(root))
        metrics = {"tune_iou_fp32": fp32_iou, "tune_iou_int8": tuning.score(agreed.masks),
                   "agreement_iou": agreed.agreement, "tune_images": sets.sizes["tune"],
                   "calibration_images": sets.sizes["calibration"], "gate": agreed.gate_log, **precision.to_dict()}
        int8_dir = out if cfg.runtime == "onnxruntime" else Path(work) / "int8"
        _write_int8(int8_dir, force, q_model, info, precision.precision, card, metrics)
        if cfg.runtime == "openvino":
            from personseg.quantize.openvino_model import build_openvino_model

            metrics = build_openvino_model(int8_dir, fp32_path, calib_x, tune_x, sets.tune.labels, out,
                                           cfg.min_agreement, force=force)
    return metrics


def export(model: str, out: str | Path, force: bool = False) -> Path:
    """``personseg export``: the FP32 ONNX Runtime version of a PyTorch saved model."""
    info = read_model_dir(local_model(model))
    if info.kind != "torch":
        raise UserError(f"--model {model}: already a {info.kind} model; export takes a PyTorch saved model")
    with atomic_dir(out, force) as tmp:
        export_onnx(info, tmp)
    return Path(out)
