"""Each pipeline step's key figure, read from what the step left in its task folder of a local run.

``kfp.local`` writes ``<run>/<task>/executor_output.json`` (output parameters and the ``Metrics``
artifacts' values) when a task succeeds, beside its artifact files; these figures come from there
and from the artifacts (evaluation JSON, deploy result, candidates index), never from log prose.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

EXECUTOR_OUTPUT = "executor_output.json"


def executor_output(task_dir: Path) -> dict[str, Any]:
    """The task's ``executor_output.json`` (empty when kfp.local wrote none)."""
    return json.loads((task_dir / EXECUTOR_OUTPUT).read_text())


def output_parameter(task_dir: Path, name: str = "Output") -> Any:
    """An output parameter of the task (the return value is ``Output``)."""
    return executor_output(task_dir).get("parameterValues", {})[name]


def metrics(task_dir: Path, name: str = "metrics") -> dict[str, float]:
    """The values the task logged into its ``Metrics`` artifact ``name``."""
    return executor_output(task_dir)["artifacts"][name]["artifacts"][0]["metadata"]


def _first_sentence(markdown: str) -> str:
    text = re.sub(r"[*`]", "", markdown).strip()
    return re.split(r"(?<=[.!?])\s", text, maxsplit=1)[0].rstrip(".")


def check_data(task: Path) -> str:
    """What check_data decided: train (and why) or stop (no new data since version N)."""
    decision = (task / "report").read_text().split("\n\n", 1)[-1]
    return _first_sentence(decision)


def ingest(task: Path) -> str:
    """Which dataset (and extra training and validation sets), and how many images reached the run."""
    meta = executor_output(task)["artifacts"]["data"]["artifacts"][0]["metadata"]
    images = task / "data" / "images"
    count = sum(1 for p in images.iterdir() if p.is_file()) if images.is_dir() else 0
    extra = f" + {meta['extra_train_uri']} (train only)" if meta.get("extra_train_uri") else ""
    extra += f" + {meta['extra_val_uri']} (val only)" if meta.get("extra_val_uri") else ""
    return f"{meta.get('uri', '?')}{extra}: {count} images"


def train(task: Path) -> str:
    """Best validation IoU and its epoch."""
    m = metrics(task)
    return f"best val IoU {m['val_iou']:.4f} (epoch {int(m['best_epoch'])})"


def swap(task: Path) -> str:
    """Whether the fine-tuned decoder was kept or reverted to the swap's start, and its val IoU."""
    report = json.loads((task / "model" / "metrics.json").read_text())
    verdict = {"kept": "fine-tuning kept", "reverted": "fine-tuning reverted (no better than the swap's start)",
               "none": "no fine-tuning"}.get(report.get("fine_tune", ""), "")
    figure = f"val IoU {report['val_iou_swapped']:.4f} (bilinear {report['val_iou_bilinear']:.4f})"
    return f"{verdict}: {figure}" if verdict else figure


def quantize(task: Path) -> str:
    """Candidates built out of those asked for, and each network's INT8-vs-FP32 mask agreement."""
    index = json.loads((task / "candidates" / "candidates.json").read_text())
    cands = index["candidates"]
    built = [c for c in cands if c["status"] == "ok"]
    agreement = ", ".join(f"{name} {n['quantize']['agreement_iou']:.3f}" for name, n in index["networks"].items()
                          if n["status"] == "ok")
    failed = "".join(f"; {c['name']} failed: {c.get('reason', '?')}" for c in cands if c["status"] != "ok")
    return f"{len(built)}/{len(cands)} candidates built; agreement with FP32 {agreement or '-'}{failed}"


def evaluate(task: Path) -> str:
    """The gate's winner and its speedup over the FP32 ONNX of its own network, or why none passed."""
    evaluation = json.loads((task / "evaluation").read_text())
    winner = evaluation.get("winner", "")
    if not winner:
        return f"no winner: {evaluation['gate']['summary']}"
    cand = next(c for c in evaluation["candidates"] if c["name"] == winner)
    ms = {m["name"]: m["latency_ms"]["median"] for m in evaluation["models"]}
    iou = next(m["iou"] for m in evaluation["models"] if m["name"] == cand["model"])
    return (f"winner {winner}, {ms[cand['fp32_onnx']] / ms[cand['model']]:.2f}x over its FP32 ONNX "
            f"(test IoU {iou:.4f})")


def train_pod_gpus(task: Path) -> str:
    """How many GPUs the train pod requests (a cluster's figure; kfp.local requests none)."""
    return f"train pod requests {output_parameter(task)} GPU(s)"


def deploy(task: Path) -> str:
    """The version deployed and where it answers."""
    result = json.loads((task / "result").read_text())
    if result.get("status") != "deployed":
        return f"not deployed: {result.get('status', '?')}"
    return f"deployed {result['pinned_model']} ({result['target']}) at {result['endpoint']}"


FIGURES: dict[str, Callable[[Path], str]] = {
    "check-data": check_data, "ingest": ingest, "train-pod-gpus": train_pod_gpus, "train": train, "swap": swap,
    "quantize": quantize, "evaluate": evaluate, "deploy": deploy,
}


def key_figure(task_dir: Path) -> str:
    """The figure of a finished task; a task this module does not know, or unreadable outputs, say so."""
    figure = FIGURES.get(task_dir.name)
    if figure is None:
        return ""
    try:
        return figure(task_dir)
    except (OSError, KeyError, ValueError, StopIteration, TypeError, IndexError) as exc:
        return f"(figure unreadable: {type(exc).__name__}: {exc})"
