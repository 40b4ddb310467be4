"""Whether a run should train at all: new data, a new recipe, or a forced retrain.

The pipeline's first step computes the dataset's fingerprint and compares it (and a hash of the
training recipe: the parameters that shape the model, and the candidates competing to be deployed)
with what the production model's card records. Unchanged: the run reports "no new data since
version N" and stops before training.
Changed: the returned key feeds ``ingest``, so KFP's cache (keyed on inputs) misses for new data
and hits for data it has already trained on, and ``deploy`` writes the key into the model card.
``force_retrain`` adds a random part to the key, so no cached step is reused.
"""

from __future__ import annotations

import hashlib
import json
import logging
import uuid
from dataclasses import dataclass
from typing import Any

from personseg.errors import UserError

log = logging.getLogger(__name__)
RECIPE_KEYS = ("image_size", "width", "epochs", "composite", "photometric", "background_hue", "backgrounds", "seed",
               "swap_design", "swap_epochs", "calibration_size", "tolerable_iou_loss", "candidates")


@dataclass(frozen=True)
class RetrainCheck:
    """``key`` is empty when there is nothing to do; ``markdown`` says why either way."""

    key: str
    markdown: str


def recipe_sha256(recipe: dict[str, Any]) -> str:
    """Hash of the training recipe (only ``RECIPE_KEYS``, so unrelated settings never force a retrain)."""
    missing = [k for k in RECIPE_KEYS if k not in recipe]
    if missing:
        raise UserError(f"recipe: missing {', '.join(missing)}")
    return hashlib.sha256(json.dumps({k: recipe[k] for k in RECIPE_KEYS}, sort_keys=True).encode()).hexdigest()


def make_key(data: str, recipe: str, forced: bool = False) -> str:
    """``data=<sha>;recipe=<sha>[;forced=<random>]``: the string ingest is cached on."""
    return f"data={data};recipe={recipe}" + (f";forced={uuid.uuid4().hex}" if forced else "")


def parse_key(key: str) -> dict[str, str]:
    """The parts of a key made by ``make_key``."""
    parts = dict(p.partition("=")[::2] for p in key.split(";") if p)
    if not parts.get("data") or not parts.get("recipe"):
        raise UserError(f"retrain key {key!r}: expected data=<sha256>;recipe=<sha256>")
    return parts


def production_training(model_name: str) -> tuple[int, dict[str, Any]] | None:
    """(version, card) of ``model_name``'s production model, or None when there is none."""
    from personseg.steps.production import production_ref

    ref = production_ref(model_name)
    if ref is None:
        return None
    from personseg.storage.registry import Registry

    version = int(ref.rsplit(":", 1)[1])
    return version, Registry.from_env().card(model_name, version)


def check_retrain(dataset_uri: str, recipe: dict[str, Any], model_name: str, force: bool = False,
                  extra_train_uri: str = "", extra_val_uri: str = "") -> RetrainCheck:
    """Compare this run's data (with its extra training and validation sets) and recipe with production's.

    See the module docstring.
    """
    from personseg.data.fingerprint import training_fingerprint
    from personseg.data.scenes import backgrounds_fingerprint

    backgrounds = recipe.get("backgrounds", "")
    if backgrounds:  # the photos, not only their folder's name, shape the model
        recipe = {**recipe, "backgrounds": f"{backgrounds} sha256={backgrounds_fingerprint(backgrounds)}"}
    data, rec = training_fingerprint(dataset_uri, extra_train_uri, extra_val_uri), recipe_sha256(recipe)
    extra = f" plus extra training set `{extra_train_uri}`" if str(extra_train_uri).strip() else ""
    extra += f" plus extra validation set `{extra_val_uri}`" if str(extra_val_uri).strip() else ""
    head = f"Dataset `{dataset_uri}`{extra}: fingerprint `{data[:16]}`, recipe `{rec[:16]}`."
    if force:
        return RetrainCheck(make_key(data, rec, forced=True), f"{head}\n\n**Retraining: forced** (force_retrain).\n")
    production = production_training(model_name)
    if production is None:
        return RetrainCheck(make_key(data, rec), f"{head}\n\n**Training**: no production model of "
                            f"`{model_name}` yet.\n")
    version, card = production
    trained = card.get("training", {})
    if trained.get("data_fingerprint") == data and trained.get("recipe_sha256") == rec:
        return RetrainCheck("", f"{head}\n\n**No new data since version {version}** of `{model_name}` (production, "
                            "trained on this exact data with this recipe): nothing trained. To retrain anyway, "
                            "run with `force_retrain=true`.\n")
    why = "new data" if trained.get("data_fingerprint") != data else "a changed recipe"
    return RetrainCheck(make_key(data, rec), f"{head}\n\n**Training**: {why} since version {version} of "
                        f"`{model_name}` (production).\n")


def training_card(dataset_uri: str, key: str) -> dict[str, Any]:
    """The model-card fields that let the next run recognise the data this model was trained on."""
    parts = parse_key(key)
    return {"training": {"dataset_uri": dataset_uri, "data_fingerprint": parts["data"],
                         "recipe_sha256": parts["recipe"], "forced": "forced" in parts}}
