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
pixels, which include the letterbox padding. The split is decoded a batch at a time and no other image
of the dataset is opened, so memory is flat in the dataset's size.
"""

from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from personseg.atomic import check_file, write_json
from personseg.cpuinfo import cpu_info
from personseg.cpuquota import default_threads
from personseg.data.loading import LoadedData
from personseg.data.prescan import SampleSet, listed
from personseg.data.split import CHOICES, split_ids
from personseg.data.stream import batches, load_all
from personseg.errors import UserError
from personseg.evaluate.agreement import onnx_fp32_of, references
from personseg.evaluate.config import EvalConfig
from personseg.evaluate.latency import benchmark
from personseg.evaluate.peak import measure_peaks
from personseg.evaluate.report import markdown_table
from personseg.quality import Tally, agreement_ious
from personseg.runtime import Predictor, load_predictor, predict_masks
from personseg.uris import local_dataset, local_model

log = logging.getLogger(__name__)


def parse_model_arg(arg: str) -> tuple[str | None, str]:
    """``NAME=URI`` or plain ``URI`` (the name then comes from the model's config)."""
    name, sep, uri = arg.partition("=")
    if sep and "/" not in name and ":" not in name:
        return name, uri
    return None, arg


def scored_set(uri: str, size: int, split: str) -> SampleSet:
    """The samples of ``split`` of the dataset at ``uri``, to decode at ``size``; never empty.

    Nothing is opened here: scoring decodes the split a batch at a time and no other image is read.
    """
    if split not in CHOICES:
        raise UserError(f"--split {split!r}: expected one of {', '.join(CHOICES)}")
    root = local_dataset(uri)
    data = listed(root, size)
    ids = data.ids if split == "all" else split_ids(data.ids, root).part(split)
    if not ids:
        raise UserError(f"--split {split}: dataset {uri} has no {split} images; use --split all to score "
                        "every image")
    return data.subset(ids)


def scored_images(uri: str, size: int, split: str) -> LoadedData:
    """``scored_set`` decoded into memory (for comparisons that need every mask at once)."""
    return load_all(scored_set(uri, size, split))


@dataclass
class Scored:
    """Each model's scores on one set, gathered a batch at a time, and the first batch (what is timed)."""

    tallies: list[Tally]
    agreements: list[list[float]]  # per image, against the model ``refs`` names
    first_batch: np.ndarray


def score(preds: list[Predictor], data: SampleSet, batch_size: int,
          refs: list[int | None] | None = None) -> Scored:
    """Score every model on ``data``, holding one batch of images and masks at a time."""
    scored = Scored([Tally() for _ in preds], [[] for _ in preds], np.empty(0, np.float32))
    for x, labels in batches(data, batch_size):
        if not scored.first_batch.size:
            scored.first_batch = x
        masks = [predict_masks(p.logits, x, batch_size) for p in preds]
        for i, mask in enumerate(masks):
            scored.tallies[i].add(mask, labels)
            ref = refs[i] if refs is not None else None
            if ref is not None and ref != i:
                scored.agreements[i] += agreement_ious(mask, masks[ref], labels)
    return scored


def _gflops(pred: Predictor) -> float | None:
    try:
        from personseg.evaluate.flops import count_gflops
        from personseg.models.checkpoint import build_from_arch
    except ImportError:  # torch not installed (serving-only environment): FLOPs unknown
        return None
    arch = pred.info.arch
    if arch.get("name") not in ("unet", "unet-swapped", "unet-pruned"):
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
    refs = references([p.info for p in preds], [uri for _, uri in named])
    onnx_refs = onnx_fp32_of([p.info for p in preds], [uri for _, uri in named])
    held = scored_set(cfg.data, size, cfg.split)
    log.info("evaluate: scoring %d images of the %s split of %s", len(held.ids), cfg.split, cfg.data)
    scored = score(preds, held, cfg.batch_size, refs)
    extra = scored_set(cfg.extra_data, size, cfg.extra_split) if cfg.extra_data else None
    extra_scores = ([t.means() for t in score(preds, extra, cfg.batch_size).tallies] if extra
                    else [None] * len(preds))
    # the first batch_size scored images (repeated when there are fewer), as before the scoring streamed
    batch = np.ascontiguousarray(np.resize(scored.first_batch, (cfg.batch_size, 3, size, size)))
    timings = benchmark(preds, batch, cfg.rounds, cfg.warmup)
    peak = measure_peaks(threads) if cfg.measure_peak else None
    base_t = timings[names.index(baseline)]
    rows = []
    for i, (name, pred, t) in enumerate(zip(names, preds, timings)):
        ref = refs[i]
        scores = {**scored.tallies[i].means(), "per_image_iou": scored.tallies[i].per_image["iou"]}
        gflops = _gflops(pred)
        rows.append({
            "name": name, "uri": named[i][1], "kind": pred.info.kind, "precision": pred.info.precision,
            **scores,
            "agreement_iou": (None if ref is None else 1.0 if ref == i
                              else float(np.mean(scored.agreements[i]))),
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
