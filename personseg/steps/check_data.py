"""Every pipeline parameter and every dataset a run reads, checked in its first step (check_data).

Why: a typo must not cost a training run, and nothing may be published before the deploy target is
known to be valid. Each check is the one the later step makes (``TrainConfig.check``, ``parse_design``,
the gate's thresholds, the deploy step's own ``DeployConfig``), so the two cannot disagree; an error
names the pipeline parameter (``image_size``, ``deploy_target``), not the CLI flag a step's message uses.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from personseg.errors import UserError
from personseg.storage.access import S3Access
from personseg.storage.refs import ModelRef

# CLI flags named by the steps' own messages -> the pipeline parameter that sets the same value
PARAM_OF_FLAG = {"--size": "image_size", "--width": "width", "--epochs": "epochs", "--composite": "composite",
                 "--photometric": "photometric", "--background-hue": "background_hue", "--backgrounds": "backgrounds",
                 "--calibration": "calibration_size", "--tolerable-iou-loss": "tolerable_iou_loss",
                 "--target": "deploy_target"}
_FLAG = re.compile("|".join(rf"(?<![\w-]){re.escape(flag)}(?![\w-])" for flag in PARAM_OF_FLAG))
DATASETS = ("dataset_uri", "extra_train_uri", "extra_val_uri", "extra_eval_uri")
SECRET_NAME = re.compile(r"[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?")  # a Kubernetes object name (DNS subdomain)
MEMORY = re.compile(r"\d+(\.\d+)?([EPTGMk]|[EPTGMK]i)?")  # a Kubernetes memory quantity


def in_pipeline_terms(exc: UserError) -> UserError:
    """``exc`` with each CLI flag its message names replaced by the pipeline parameter."""
    return UserError(_FLAG.sub(lambda m: PARAM_OF_FLAG[m.group(0)], str(exc)))


def check_run(p: Mapping[str, Any]) -> None:
    """Refuse the first bad parameter of ``p`` (the pipeline's parameters by name), then any bad dataset."""
    try:
        _check_training(p)
        _check_quantize_and_gate(p)
        _check_deploy(p)
    except UserError as exc:
        raise in_pipeline_terms(exc) from None
    _check_datasets(p)


def _at_least(p: Mapping[str, Any], name: str, low: int) -> None:
    if p[name] < low:
        raise UserError(f"{name} {p[name]}: must be >= {low}")


def _check_training(p: Mapping[str, Any]) -> None:
    from personseg.models.swapped import swapped_unet
    from personseg.steps.train_pod_gpus import check_ranks
    from personseg.swap.config import SwapConfig, parse_design
    from personseg.training.step import TrainConfig

    TrainConfig(data=p["dataset_uri"], size=p["image_size"], width=p["width"], epochs=p["epochs"],
                composite=p["composite"], photometric=p["photometric"], background_hue=p["background_hue"],
                backgrounds=p["backgrounds"], seed=p["seed"]).check()
    try:
        design = parse_design(p["swap_design"])
        SwapConfig(model="", data="", **design).check()
        if design["design"] != "prune":
            swapped_unet(p["width"], design["design"], design["squeeze"])  # a squeeze that does not divide fails
    except ValueError as exc:
        raise UserError(f"swap_design {p['swap_design']!r}: {exc}") from None
    _at_least(p, "swap_epochs", 0)
    _at_least(p, "train_nodes", 1)
    _at_least(p, "train_gpus", 0)
    check_ranks(TrainConfig.batch_size, p["train_nodes"], p["train_gpus"])


def _check_quantize_and_gate(p: Mapping[str, Any]) -> None:
    from personseg.quantize.calibration import MIN_CALIBRATION
    from personseg.steps.candidates import parse_candidates
    from personseg.steps.gate import check_thresholds

    parse_candidates(p["candidates"])
    _at_least(p, "calibration_size", MIN_CALIBRATION)
    check_thresholds(p["tolerable_iou_loss"], p["min_speedup"], p["min_extra_iou"], p["min_iou"])
    _at_least(p, "eval_rounds", 1)


def _check_deploy(p: Mapping[str, Any]) -> None:
    """The deploy step's own ``DeployConfig``, built from the parameters before anything is published."""
    from personseg.deploy.config import DNS_LABEL, TARGETS, cpu_cores
    from personseg.steps.deploy import serving_config
    from personseg.storage.refs import check_name

    if p["deploy_target"] not in TARGETS:
        raise UserError(f"deploy_target {p['deploy_target']!r}: expected one of {', '.join(TARGETS)}")
    try:
        check_name(p["model_name"])
    except UserError as exc:
        raise UserError(f"model_name: {exc}") from None
    for name in ("model_name", "namespace"):
        if not DNS_LABEL.fullmatch(p[name]):
            raise UserError(f"{name} {p[name]!r}: must be a DNS label (lowercase letters, digits, '-'; at most 63)")
    for name in ("minio_secret", "serving_secret"):
        if not SECRET_NAME.fullmatch(p[name]):
            raise UserError(f"{name} {p[name]!r}: not a Kubernetes Secret name")
    if not 1 <= p["serving_min_replicas"] <= p["serving_max_replicas"]:
        raise UserError(f"serving_min_replicas {p['serving_min_replicas']}, serving_max_replicas "
                        f"{p['serving_max_replicas']}: need 1 <= min <= max")
    for name in ("serving_cpu_request", "serving_cpu_limit"):
        try:
            cpu_cores(p[name])
        except UserError as exc:
            raise UserError(f"{name}: {exc}") from None
    for name in ("serving_memory_request", "serving_memory_limit"):
        if not MEMORY.fullmatch(str(p[name])):
            raise UserError(f"{name} {p[name]!r}: expected a memory quantity like '768Mi' or '2Gi'")
    image = str(p["serving_image"])
    if not image.strip() or any(c.isspace() for c in image):
        raise UserError(f"serving_image {image!r}: not an image reference")
    serving_config(str(ModelRef(p['model_name'], version=1)), p["deploy_target"], p["model_name"], p["namespace"],
                   S3Access(p["s3_endpoint"], p["serving_secret"]), serving_settings(p))


def serving_settings(p: Mapping[str, Any]) -> dict[str, Any]:
    """The ``DeployConfig`` sizing and image the pipeline's parameters set (the deploy step passes the same)."""
    return {"min_replicas": p["serving_min_replicas"],
            "max_replicas": p["serving_max_replicas"], "cpu_request": p["serving_cpu_request"],
            "cpu_limit": p["serving_cpu_limit"], "memory_request": p["serving_memory_request"],
            "memory_limit": p["serving_memory_limit"], "image": p["serving_image"]}


def _check_datasets(p: Mapping[str, Any]) -> None:
    """Every dataset the run reads, on the user's URI, with the checks of ``personseg data validate``."""
    from personseg.steps.ingest import check_dataset

    for name in DATASETS:
        if str(p.get(name, "")).strip():
            check_dataset(name, p[name], p["image_size"])


def check_data_step(p: Mapping[str, Any]) -> Any:  # -> RetrainCheck
    """The pipeline's first step: refuse any bad parameter or dataset, then decide whether the run trains.

    Returns ``personseg.steps.retrain_check.RetrainCheck`` (its key is "" when nothing is new).
    """
    from personseg.data.extra_train import check_extra_sets
    from personseg.steps.candidates import canonical
    from personseg.steps.retrain_check import RECIPE_KEYS, check_retrain
    from personseg.steps.storage_env import use_endpoint

    use_endpoint(p["s3_endpoint"])
    check_run(p)
    check_extra_sets(p["extra_train_uri"], p["dataset_uri"], p["extra_eval_uri"], p["extra_val_uri"])
    recipe = {**{key: p[key] for key in RECIPE_KEYS}, "candidates": canonical(p["candidates"])}
    return check_retrain(p["dataset_uri"], recipe, p["model_name"], p["force_retrain"], p["extra_train_uri"],
                         p["extra_val_uri"])
