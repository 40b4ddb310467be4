"""``personseg evaluate``: quality and speed of several models side by side, in one process.

The JSON report is a contract other steps read: ``{"batch_size", "image_size", "threads", "cpu":
{model, flags}, "baseline", "models": [{"name", "uri", "iou", "dice", "boundary_f", "latency_ms":
{"median", "p90"}, "images_per_s", "speedup", ...}]}``; ``speedup`` is against the baseline measured
in the same run. Extra per-model fields: ``kind``, ``precision``, ``gflops``, ``achieved_gops``,
``agreement_iou`` (IoU of its masks against those of the FP32 model of the same network in this run,
chosen by ``personseg.evaluate.agreement``: INT8 against FP32 ONNX, else FP32 PyTorch; FP32 ONNX against
FP32 PyTorch; otherwise 1.0 against itself, or ``None`` when no FP32 model of its network was evaluated)
and ``agreement_with`` (the name of that model, its own name, or ``None``), ``speedup_vs_onnx_fp32``
(over the FP32 ONNX model of the same network in this run, 1.0 for that model itself, ``None`` without one)
and ``fraction_of_peak`` (achieved GOP/s over this CPU's measured GEMM peak for its precision, in
``cpu.peak``: ``{"fp32_gflops", "int8_gops"}``, the best of several trials, with every trial's rate in
``fp32_gflops_trials`` and ``int8_gops_trials``), and ``extra`` (``{"iou", "dice", "boundary_f"}`` on the
second evaluation set, when one is given: ``result["extra_data"]`` names it), ``per_image_iou`` (the
IoU of each scored image, in the order of ``result["data"]["ids"]``: what a paired comparison resamples).

Quality is scored on one split (default ``test``: never used to choose a model) and skips ``IGNORE``
pixels, which include the letterbox padding.
"""

from __future__ import annotations

import dataclasses
import logging
from pathlib import Path

import numpy as np

from personseg.atomic import check_file, write_json
from personseg.cpuinfo import cpu_info
from personseg.data.loading import LoadedData
from personseg.data.prescan import prescan
from personseg.data.split import CHOICES, split_ids
from personseg.data.stream import load_all
from personseg.errors import UserError
from personseg.evaluate.agreement import onnx_fp32_of, references
from personseg.evaluate.config import EvalConfig
from personseg.evaluate.latency import benchmark
from personseg.evaluate.peak import measure_peaks
from personseg.evaluate.report import markdown_table
from personseg.metrics import agreement_iou, mean_scores, per_image_iou
from personseg.runtime import Predictor, default_threads, load_predictor, predict_masks
from personseg.uris import local_dataset, local_model

log = logging.getLogger(__name__)


def parse_model_arg(arg: str) -> tuple[str | None, str]:
    """``NAME=URI`` or plain ``URI`` (the name then comes from the model's config)."""
    name, sep, uri = arg.partition("=")
    if sep and "/" not in name and ":" not in name:
        return name, uri
    return None, arg


def scored_images(uri: str, size: int, split: str) -> LoadedData:
    """The images of ``split`` of the dataset at ``uri``, letterboxed to ``size``; never empty."""
    if split not in CHOICES:
        raise UserError(f"--split {split!r}: expected one of {', '.join(CHOICES)}")
    root = local_dataset(uri)
    data = prescan(root, size)  # paths: only the scored split is decoded
    ids = data.ids if split == "all" else split_ids(data.ids, root).part(split)
    if not ids:
        raise UserError(f"--split {split}: dataset {uri} has no {split} images; use --split all to score "
                        "every image")
    return load_all(data.subset(ids))


def score_on(pred: Predictor, data: LoadedData, batch_size: int) -> dict[str, float]:
    """IoU, Dice and boundary F of ``pred`` on ``data`` (a second evaluation set: quality only)."""
    images = data.images.transpose(0, 3, 1, 2).astype(np.float32) / 255.0
    return mean_scores(predict_masks(pred.logits, images, batch_size), data.labels)


def _gflops(pred: Predictor) -> float | None:
    try:
        from personseg.evaluate.flops import count_gflops
        from personseg.models.checkpoint import build_from_arch
    except ImportError:  # torch not installed (serving-only environment): FLOPs unknown
        return None
    arch = pred.info.arch
    if arch.get("name") not in ("unet", "unet-swapped"):
        return None
    return count_gflops(build_from_arch(arch), pred.info.image_size)


def run(cfg: EvalConfig, report: str | Path | None = None, force: bool = False) -> dict:
    """Evaluate and time every model; write ``report`` (JSON) and a Markdown table beside it.

    An existing report (or its table) is replaced only with ``force``.
    """
    if report:
        check_file(report, force, "--report")
        check_file(Path(report).with_suffix(".md"), force, "--report's table")
    if not cfg.models:
        raise UserError("--model: give at least one model")
    if cfg.batch_size < 1 or cfg.rounds < 1:
        raise UserError("--batch-size and --rounds must be >= 1")
    threads = cfg.threads or default_threads()
    named = [parse_model_arg(m) for m in cfg.models]
    preds = [load_predictor(local_model(uri), threads) for _, uri in named]
    names = [name or p.info.name + ("-onnx" if p.info.kind == "onnx" else "") for (name, _), p in zip(named, preds)]
    if len(set(names)) != len(names):
        raise UserError(f"--model: names must be unique, got {names}; name them with NAME=URI")
    sizes = {p.info.image_size for p in preds}
    if len(sizes) != 1:
        raise UserError(f"--model: all models must take one image size, got {sorted(sizes)}")
    size = sizes.pop()
    baseline = cfg.baseline or names[0]
    if baseline not in names:
        raise UserError(f"--baseline {baseline}: not among the models ({', '.join(names)})")
    held = scored_images(cfg.data, size, cfg.split)
    log.info("evaluate: scoring %d images of the %s split of %s", len(held.ids), cfg.split, cfg.data)
    images = held.images.transpose(0, 3, 1, 2).astype(np.float32) / 255.0
    masks = [predict_masks(p.logits, images, cfg.batch_size) for p in preds]
    extra = scored_images(cfg.extra_data, size, cfg.extra_split) if cfg.extra_data else None
    extra_scores = [score_on(p, extra, cfg.batch_size) for p in preds] if extra else [None] * len(preds)
    batch = np.ascontiguousarray(np.resize(images, (cfg.batch_size, 3, size, size)))
    timings = benchmark(preds, batch, cfg.rounds, cfg.warmup)
    peak = measure_peaks(threads) if cfg.measure_peak else None
    base_t = timings[names.index(baseline)]
    refs = references([p.info for p in preds], [uri for _, uri in named])
    onnx_refs = onnx_fp32_of([p.info for p in preds], [uri for _, uri in named])
    rows = []
    for i, (name, pred, t) in enumerate(zip(names, preds, timings)):
        ref = refs[i]
        scores = {**mean_scores(masks[i], held.labels), "per_image_iou": per_image_iou(masks[i], held.labels)}
        gflops = _gflops(pred)
        rows.append({
            "name": name, "uri": named[i][1], "kind": pred.info.kind, "precision": pred.info.precision,
            **scores,
            "agreement_iou": (None if ref is None else 1.0 if ref == i
                              else agreement_iou(masks[i], masks[ref], held.labels)),
            "agreement_with": None if ref is None else names[ref],
            "latency_ms": {"median": t.median_ms, "p90": t.p90_ms}, "images_per_s": t.images_per_s,
            "speedup": base_t.median_ms / t.median_ms,
            "speedup_vs_onnx_fp32": (None if onnx_refs[i] is None
                                     else timings[onnx_refs[i]].median_ms / t.median_ms),
            "gflops": gflops, "achieved_gops": gflops * t.images_per_s if gflops else None,
            "extra": extra_scores[i],
        })
        key = "int8_gops" if pred.info.precision == "int8" else "fp32_gflops"
        rows[-1]["fraction_of_peak"] = rows[-1]["achieved_gops"] / peak[key] if peak and gflops else None
    result = {"batch_size": cfg.batch_size, "image_size": size, "threads": threads,
              "cpu": {**cpu_info().summary(), "peak": peak},
              "baseline": baseline, "data": {"uri": cfg.data, "split": cfg.split, "samples": len(held.ids),
                                                       "ids": list(held.ids)},
              "extra_data": ({"uri": cfg.extra_data, "split": cfg.extra_split, "samples": len(extra.ids)}
                             if extra else None),
              "rounds": cfg.rounds, "config": dataclasses.asdict(cfg), "models": rows}
    if report:
        report = Path(report)
        report.parent.mkdir(parents=True, exist_ok=True)
        write_json(report, result)
        report.with_suffix(".md").write_text(markdown_table(result))
    return result
