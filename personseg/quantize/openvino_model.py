"""The OpenVINO INT8 model of a network: INC's QDQ ONNX read by OpenVINO, or NNCF's, whichever serves.

Up to three ways to an OpenVINO INT8 IR, all from what the INC path already has:

* ``inc``: the INT8 QDQ ONNX that INC tuned (gated on IoU), rewritten so that OpenVINO fuses it whole
  (``openvino_qdq``: one scale around each Concat/DepthToSpace, float logits), read by OpenVINO and saved as IR;
* ``inc-int8-input``: the same with the convolution that reads the image quantized too (``input_convs``),
  built when INC left that convolution in FP32;
* ``nncf``: ``nncf.quantize`` of the FP32 ONNX read by OpenVINO, calibrated on the same images, with
  the convolutions that read the image left in FP32 when the INC path left them (its card says so).

All are measured on this machine: latency at batch 8 (interleaved rounds, the median) and agreement
IoU of their masks with the FP32 model's on the tuning images. INC is kept unless another candidate is
faster by more than ``margin``, passes the gate and agrees with FP32 about as well (``AGREEMENT_SLACK``);
of those, the fastest wins. INC's result went through accuracy-aware tuning and the fallback gate, the
others did not. Every measurement goes into the model card, with where the chosen model's time goes as
OpenVINO executes it (f32 kernels, reorders, requantizations: ``openvino_graph.profile``).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from personseg.atomic import atomic_dir, write_json
from personseg.cpuquota import default_threads
from personseg.errors import UserError
from personseg.modeldir import ModelInfo, read_metrics, read_model_dir, write_config
from personseg.quality import agreement_iou, mean_scores
from personseg.quantize.input_convs import CORRECTIONS, quantize_input_convs
from personseg.quantize.openvino_graph import openvino_executed_nodes, openvino_fp32_nodes, profile
from personseg.quantize.openvino_qdq import for_openvino
from personseg.quantize.precision import Precision, measure
from personseg.runtime import predict_masks
from personseg.runtime.openvino import compile_openvino, read_openvino_model

log = logging.getLogger(__name__)
IR_FILE = "model.xml"
METHODS = ("inc", "inc-int8-input", "nncf")
BATCH = 8
# How much worse a candidate's agreement with FP32 may be than INC's for it to replace INC (half an IoU point):
# a faster model only at equal quality. In a demo run NNCF won on speed by 6 % at agreement 0.979
# against INC's 0.996, and lost 1.6 IoU points on the real photographs where INC's model lost none.
AGREEMENT_SLACK = 0.005


@dataclass(frozen=True)
class Measured:
    """One candidate's figures: median latency of a batch of ``BATCH`` and agreement with FP32 masks."""

    method: str
    latency_ms: float
    agreement_iou: float
    tune_iou: float


def choose_method(measured: dict[str, Measured], min_agreement: float, margin: float,
                  slack: float = AGREEMENT_SLACK) -> str:
    """``inc``, or the fastest candidate that passes the gate, beats INC by ``margin`` and agrees within ``slack``.

    When INC fails the gate, the candidate that agrees best among those that pass is taken.
    """
    inc = measured["inc"]
    others = [m for k, m in measured.items() if k != "inc" and m.agreement_iou >= min_agreement]
    if inc.agreement_iou < min_agreement:
        if others:
            return max(others, key=lambda m: m.agreement_iou).method
        figures = ", ".join(f"{k} {m.agreement_iou:.4f}" for k, m in measured.items())
        raise UserError(f"quantize --runtime openvino: no candidate reaches --min-agreement {min_agreement} on "
                        f"OpenVINO (agreement {figures}); not writing a model")
    rivals = [m for m in others
              if m.latency_ms < inc.latency_ms * (1 - margin) and m.agreement_iou >= inc.agreement_iou - slack]
    return min(rivals, key=lambda m: m.latency_ms).method if rivals else "inc"


def input_convolutions(model: Any) -> list[str]:
    """Friendly names of the Convolution ops of an ``openvino.Model`` that read one of its Parameters."""
    return [op.get_friendly_name() for op in model.get_ordered_ops() if op.get_type_name() == "Convolution"
            and op.input_value(0).get_node().get_type_name() == "Parameter"]


def keeps_input_convs(int8_card: dict[str, Any]) -> bool:
    """Whether the INC model's card says the image's convolutions stayed FP32 (NNCF then does the same)."""
    return bool(int8_card.get("quantization", {}).get("fp32_input_convs", False))


def nncf_model(fp32_onnx: Path, calib: np.ndarray, fp32_input_convs: bool = True) -> tuple[Any, dict[str, Any]]:
    """NNCF's INT8 ``openvino.Model`` of the FP32 ONNX, calibrated on ``calib``, and how it was made."""
    import nncf

    batches = [calib[i : i + BATCH] for i in range(0, len(calib), BATCH)]
    fp32 = read_openvino_model(fp32_onnx)
    kept = input_convolutions(fp32) if fp32_input_convs else []
    model = nncf.quantize(fp32, nncf.Dataset(batches), subset_size=len(batches),
                          ignored_scope=nncf.IgnoredScope(names=kept))
    return model, {"library": "nncf", "nncf_version": nncf.__version__, "preset": "performance (default)",
                   "calibration_batches": len(batches), "batch_size": BATCH, "fp32_input_convs": fp32_input_convs,
                   "excluded_nodes": kept}


def interleaved_latencies(runners: dict[str, Callable[[np.ndarray], object]], batch: np.ndarray, rounds: int,
                          runs: int) -> dict[str, float]:
    """Median ms per ``batch`` of each runner, the runners taking turns within every round.

    Taking turns spreads a noisy neighbour's load over every candidate instead of one.
    """
    for run in runners.values():
        run(batch)  # warm-up: first-run allocations are not latency
    times: dict[str, list[float]] = {k: [] for k in runners}
    for _ in range(rounds):
        for key, run in runners.items():
            start = time.perf_counter()
            for _ in range(runs):
                run(batch)
            times[key].append((time.perf_counter() - start) / runs * 1000)
    return {k: float(np.median(v)) for k, v in times.items()}


def openvino_runner(compiled: Any) -> Callable[[np.ndarray], object]:
    """One infer request of ``compiled`` as a function of the batch (for ``interleaved_latencies``)."""
    request = compiled.create_infer_request()
    return lambda batch: request.infer({0: batch})


def _masks(compiled: Any, images: np.ndarray) -> np.ndarray:
    request = compiled.create_infer_request()

    def logits(batch: np.ndarray) -> np.ndarray:
        request.infer({0: np.ascontiguousarray(batch)})
        return request.get_output_tensor(0).data.copy()

    return predict_masks(logits, images, BATCH)


def _inc_source(int8_onnx_dir: str | Path) -> ModelInfo:
    """The INC path's INT8 ONNX saved model, refused when it is anything else."""
    inc_info = read_model_dir(int8_onnx_dir)
    if inc_info.kind != "onnx" or inc_info.precision != "int8":  # fp32: its tuning kept no INT8 op
        raise UserError(f"model {int8_onnx_dir}: is a {inc_info.kind} {inc_info.precision} model; the OpenVINO "
                        "conversion takes the INT8 ONNX model of the INC path")
    return inc_info


def _candidates(inc_info: ModelInfo, fp32_onnx_path: Path, calib_inputs: np.ndarray,
                methods: tuple[str, ...]) -> tuple[dict[str, Any], dict[str, dict[str, Any]]]:
    """The OpenVINO models to choose from (INC's QDQ ONNX read as it is; NNCF's if asked), and their recipes."""
    import onnx

    qdq, rewrites = for_openvino(onnx.load(str(inc_info.weights_path)))
    models: dict[str, Any] = {"inc": read_openvino_model(qdq.SerializeToString())}
    recipes: dict[str, dict[str, Any]] = {"inc": {"library": "onnx-neural-compressor",
                                                  "source": "INC's INT8 QDQ ONNX rewritten for OpenVINO, read by it",
                                                  "openvino_qdq": rewrites.to_dict()}}
    if "inc-int8-input" in methods and keeps_input_convs(inc_info.extra):
        correction = CORRECTIONS[0]
        quantized, names = int8_input_model(qdq, inc_info.extra, calib_inputs, correction)
        models["inc-int8-input"] = read_openvino_model(quantized.SerializeToString())
        recipes["inc-int8-input"] = {**recipes["inc"], "source": recipes["inc"]["source"] + ", with the "
                                     "convolutions that read the image quantized (image scale 1/255, int8 weights "
                                     "per channel rounded for the calibration images' 3x3 patches, bias corrected "
                                     "for their mean)", "input_convs_quantized": names,
                                     "input_convs_correction": correction}
    if "nncf" in methods:
        models["nncf"], recipes["nncf"] = nncf_model(fp32_onnx_path, calib_inputs, keeps_input_convs(inc_info.extra))
    return models, recipes


def int8_input_model(qdq: Any, inc_card: dict[str, Any], calib_inputs: np.ndarray,
                     correction: str = CORRECTIONS[0]) -> tuple[Any, list[str]]:
    """The ``inc-int8-input`` candidate's ONNX: INC's rewritten QDQ with the image's convolutions quantized.

    Weights 7-bit where INC's card says ``reduce_range``; ``correction`` as ``input_convs.CORRECTIONS`` says
    (the step's is the first, the others are a benchmark's controls). Returns it and the names quantized.
    """
    reduce_range = bool(inc_card.get("quantization", {}).get("reduce_range", False))
    return quantize_input_convs(qdq, calib_inputs, reduce_range, correction)


def _timing_batch(tune_inputs: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(np.resize(tune_inputs, (BATCH, *tune_inputs.shape[1:])))


def _executed(model: Any, batch: np.ndarray, threads: int, size: int) -> dict[str, Any]:
    """Where the chosen model's time goes as OpenVINO executes it (the card's ``openvino.executed``), logged."""
    executed = profile(compile_openvino(model, threads, size, profile=True), batch)
    log.info("quantize: OpenVINO executes %.0f %% of a batch in float kernels and %.0f %% in reorders, conversions "
             "and requantizations (%s)", executed.share(executed.float_kernels()) * 100,
             executed.share(executed.overheads()) * 100,
             ", ".join(f"{k.node_type} {k.exec_type} {k.ms:.1f} ms" for k in executed.float_kernels()[:3]) or "none")
    return executed.summary()


def _measure(compiled: dict[str, Any], fp32_masks: np.ndarray, tune_inputs: np.ndarray, tune_labels: np.ndarray,
             rounds: int, runs: int) -> dict[str, Measured]:
    """Each compiled model's latency (interleaved rounds), agreement with FP32 and IoU on the tuning images."""
    timing_batch = _timing_batch(tune_inputs)
    latency = interleaved_latencies({k: openvino_runner(c) for k, c in compiled.items()}, timing_batch, rounds, runs)
    measured: dict[str, Measured] = {}
    for key, model in compiled.items():
        masks = _masks(model, tune_inputs)
        measured[key] = Measured(key, latency[key], agreement_iou(masks, fp32_masks, tune_labels),
                                 mean_scores(masks, tune_labels, boundary=False)["iou"])
        log.info("quantize: OpenVINO %s: %.2f ms per batch of %d, agreement with FP32 %.4f", key, latency[key],
                 BATCH, measured[key].agreement_iou)
    return measured


def _openvino_section(method: str, measured: dict[str, Measured], recipes: dict[str, dict[str, Any]],
                      executed: dict[str, Any], *, margin: float, rounds: int, runs: int,
                      threads: int) -> dict[str, Any]:
    """The card's ``openvino`` field: which model was chosen, by what rule, from which measurements."""
    import openvino as ov

    return {
        "method": method, "openvino_version": ov.__version__, "margin": margin, "batch_size": BATCH,
        "rounds": rounds, "runs_per_round": runs, "threads": threads, "inference_precision": "f32",
        "measurements": {k: {"latency_ms": m.latency_ms, "agreement_iou": m.agreement_iou, "tune_iou": m.tune_iou,
                             **recipes[k]} for k, m in measured.items()},
        "agreement_slack": AGREEMENT_SLACK,
        "rule": "INC unless another candidate passes the gate, is faster by more than the margin and agrees with "
                "FP32 within agreement_slack of INC (then the fastest of them)",
        "executed": executed,
    }


def _quantization_section(method: str, inc_card: dict[str, Any], recipes: dict[str, dict[str, Any]],
                          fp32_nodes: Any, precision: Precision, min_agreement: float) -> dict[str, Any]:
    """The card's ``quantization`` field: INC's own for the INC model, NNCF's recipe for NNCF's."""
    inc_quant = dict(inc_card.get("quantization", {}))
    if method == "inc-int8-input":
        quantized = recipes[method]["input_convs_quantized"]
        inc_quant = {**inc_quant, "fp32_input_convs": False, "input_convs_quantized": quantized,
                     "input_convs_correction": recipes[method]["input_convs_correction"],
                     "excluded_nodes": [n for n in inc_quant.get("excluded_nodes", []) if n not in quantized]}
    quantization = ({**inc_quant, "backend": "openvino", "fp32_nodes": fp32_nodes} if method != "nncf" else
                    {**recipes["nncf"], "backend": "openvino", "fp32_nodes": fp32_nodes,
                     "min_agreement": min_agreement, "config": inc_quant.get("config")})
    quantization.update(precision.to_dict())  # FakeQuantize ops in the IR, OpenVINO's 8-bit primitives
    return quantization


def build_openvino_model(
    int8_onnx_dir: str | Path,
    fp32_onnx_path: str | Path,
    calib_inputs: np.ndarray,
    tune_inputs: np.ndarray,
    tune_labels: np.ndarray,
    out_dir: str | Path,
    min_agreement: float,
    *,
    methods: tuple[str, ...] = METHODS,
    margin: float = 0.05,
    rounds: int = 5,
    runs: int = 3,
    threads: int | None = None,
    force: bool = False,
) -> dict[str, Any]:
    """Write the OpenVINO INT8 saved model at ``out_dir`` and return its metrics.

    Args:
        int8_onnx_dir: the INT8 QDQ ONNX saved model the INC path wrote (its card is copied).
        fp32_onnx_path: the FP32 ONNX of the same network (NNCF's input and the agreement reference).
        calib_inputs: calibration images, (N, 3, S, S) float32 in [0, 1] (the ones INC calibrated on).
        tune_inputs: tuning images (agreement and IoU are measured on them; one batch of them is timed).
        tune_labels: their labels (IoU, and the ignore pixels agreement skips).
        out_dir: where the saved model goes (written whole or not at all).
        min_agreement: the gate, IoU of INT8 masks vs FP32 masks.
        methods: candidates to build (``inc`` always is: it is the fallback).
        margin: how much faster (relative) NNCF must be to replace INC.
        rounds: interleaved timing rounds (each model timed once per round; the median is kept).
        runs: batches timed per model per round.
        threads: OpenVINO inference threads (``default_threads()``).
        force: replace an existing non-empty ``out_dir`` (else it is refused).
    """
    import openvino as ov

    unknown = set(methods) - set(METHODS)
    if unknown:
        raise UserError(f"OpenVINO methods {sorted(unknown)}: expected some of {', '.join(METHODS)}")
    threads = threads or default_threads()
    inc_info = _inc_source(int8_onnx_dir)
    size = inc_info.image_size
    models, recipes = _candidates(inc_info, Path(fp32_onnx_path), calib_inputs, methods)
    compiled = {k: compile_openvino(m, threads, size) for k, m in models.items()}
    fp32_masks = _masks(compile_openvino(Path(fp32_onnx_path), threads, size), tune_inputs)
    measured = _measure(compiled, fp32_masks, tune_inputs, tune_labels, rounds, runs)
    method = choose_method(measured, min_agreement, margin)
    chosen = measured[method]
    fp32_nodes = openvino_fp32_nodes(compiled[method])
    fake_quantize = sum(op.get_type_name() == "FakeQuantize" for op in models[method].get_ops())
    precision = measure(fake_quantize, openvino_executed_nodes(compiled[method]))
    if precision.warning("quantize (OpenVINO)"):
        log.warning("%s", precision.warning("quantize (OpenVINO)"))

    inc_card = inc_info.extra
    quantization = _quantization_section(method, inc_card, recipes, fp32_nodes, precision, min_agreement)
    executed = _executed(models[method], _timing_batch(tune_inputs), threads, size)
    openvino_section = _openvino_section(method, measured, recipes, executed, margin=margin, rounds=rounds,
                                         runs=runs, threads=threads)
    kept = {k: v for k, v in inc_card.items() if k not in ("runtime", "quantization")}
    metrics = {**read_metrics(int8_onnx_dir), "tune_iou_int8": chosen.tune_iou, "agreement_iou": chosen.agreement_iou,
               "openvino": {k: {"latency_ms": m.latency_ms, "agreement_iou": m.agreement_iou}
                            for k, m in measured.items()}, "openvino_method": method, **precision.to_dict()}
    with atomic_dir(out_dir, force) as tmp:
        ov.save_model(models[method], str(tmp / IR_FILE), compress_to_fp16=False)
        write_config(tmp, kind="openvino", runtime="openvino", precision=precision.precision, weights=IR_FILE,
                     image_size=size, arch=inc_info.arch,
                     extra={**kept, "quantization": quantization, "openvino": openvino_section})
        write_json(tmp / "metrics.json", metrics)
    return metrics
