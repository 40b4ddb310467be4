"""The mask deploy's smoke test expects: read from the version's card, or computed for a model outside the registry.

A card without a usable mask (published before cards recorded one, a model that could not run at
publish, a probe this personseg no longer draws) refuses the deploy with what to do about it.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from personseg.deploy.pinned_model import DeployRegistry, PinnedModel
from personseg.errors import UserError
from personseg.serving.smoke_probe import PROBE, PROBE_SIZE, decode_mask, offline_mask
from personseg.storage.card import SMOKE_FIELD


class NoExpectedMask(UserError):
    """The smoke test has nothing to compare the Service's mask with."""


def expected_from_card(card: dict[str, Any], ref: str) -> np.ndarray:
    """The mask the smoke test must see for the version whose card is ``card``, or ``NoExpectedMask``."""
    entry = card.get(SMOKE_FIELD)
    republish = f"republish it (personseg models pull {ref} DIR, then personseg models publish DIR --name NAME)"
    if not isinstance(entry, dict):
        raise NoExpectedMask(f"model card of {ref} has no expected smoke-test mask (field '{SMOKE_FIELD}'; "
                             f"published before cards recorded one); {republish}")
    if entry.get("error"):
        raise NoExpectedMask(f"model card of {ref} has no expected smoke-test mask: the model did not run at "
                             f"publish ({entry['error']})")
    if entry.get("probe") != PROBE:
        raise NoExpectedMask(f"model card of {ref}: smoke probe {entry.get('probe')!r} is not the one this "
                             f"personseg draws ({PROBE!r}); {republish}")
    try:
        mask = decode_mask(str(entry.get("mask_png_b64", "")))
    except (ValueError, OSError) as exc:
        raise NoExpectedMask(f"model card of {ref}: field '{SMOKE_FIELD}.mask_png_b64' is not a PNG ({exc})") from None
    if (mask.shape[1], mask.shape[0]) != PROBE_SIZE:
        raise NoExpectedMask(f"model card of {ref}: expected mask is {mask.shape[1]}x{mask.shape[0]}, "
                             f"the probe is {PROBE_SIZE[0]}x{PROBE_SIZE[1]}")
    if not mask.any():
        raise NoExpectedMask(f"model card of {ref}: the expected mask is empty, so a blank answer would pass; "
                             "the model finds no person in the probe image")
    return mask


def expected_mask(model: PinnedModel, registry: DeployRegistry | None) -> np.ndarray:
    """From the version's card for ``models:/`` refs; a path or s3:// model has no card and is run here."""
    if model.in_registry and registry is not None:
        return expected_from_card(registry.card(model.name, model.version), model.pinned)
    from personseg.uris import local_model

    try:
        return offline_mask(local_model(model.uri))
    except (UserError, ImportError) as exc:
        raise NoExpectedMask(f"model {model.uri}: cannot compute the expected smoke-test mask ({exc})") from None
