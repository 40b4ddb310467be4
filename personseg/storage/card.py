"""The model card: everything needed to trust, reproduce and compare one registry version.

It records where the model came from (git commit, pipeline run, dataset and calibration hashes),
how good and how fast it was (``metrics.json``, CPU of the publishing machine), the sha256 of
every file, which is what every pull verifies, and the mask the model gives the smoke probe, which
is what every deploy's smoke test compares the Service's answer with. The publisher computes that
entry (``personseg.serving.smoke_probe.card_entry``) and passes it in: storage never runs a model.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
from pathlib import Path
from typing import Any

import personseg
from personseg.cpuinfo import cpu_info
from personseg.errors import UserError
from personseg.modeldir import CONFIG, METRICS, ModelInfo, read_metrics
from personseg.storage.transfer import FileRecord

CARD = "model-card.json"
CARD_FORMAT = 1
SMOKE_FIELD = "smoke"
RESERVED = ("format", "name", "version", "created", "files", SMOKE_FIELD)


def git_state(cwd: Path | None = None) -> dict[str, Any] | None:
    """``{"commit", "dirty"}`` of the personseg checkout, ``PERSONSEG_GIT_COMMIT`` if set, else None."""
    env = os.environ.get("PERSONSEG_GIT_COMMIT", "").strip()
    if env:
        return {"commit": env, "dirty": None}
    cwd = cwd or Path(personseg.__file__).resolve().parent
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=cwd, capture_output=True, text=True, timeout=10, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=cwd, capture_output=True, text=True, timeout=10, check=True,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return {"commit": commit, "dirty": bool(dirty)} if commit else None


def _provenance(info: ModelInfo, field: str, keys: tuple[str, ...]) -> dict[str, Any] | None:
    value = info.extra.get(field)
    if value is None:
        return None
    if not isinstance(value, dict):
        raise UserError(f"{info.path / CONFIG}: field '{field}' must be an object with {', '.join(keys)}")
    return {k: value[k] for k in keys if k in value} or None


def build_card(
    info: ModelInfo, name: str, version: int, files: dict[str, FileRecord], extra: dict[str, Any] | None = None,
    *, smoke: dict[str, Any],
) -> dict[str, Any]:
    """The card for ``info`` published as ``name`` ``version`` with ``files``.

    Keys in ``extra`` override the gathered provenance (e.g. ``pipeline_run_id``, ``cpu``) and may
    add new ones; the identity, the file list and the smoke probe's mask cannot be overridden.
    ``smoke`` is the probe's entry the publisher computed on exactly the files being published, with
    the serving code, so every version carries the mask its own files give and a deploy only reads it.
    """
    extra = dict(extra or {})
    try:
        metrics = read_metrics(info.path)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise UserError(f"{info.path / METRICS}: not valid JSON ({exc})") from None
    bad = [k for k in RESERVED if k in extra]
    if bad:
        raise UserError(f"model card: field(s) {', '.join(bad)} are set by the registry and cannot be given")
    card: dict[str, Any] = {
        "format": CARD_FORMAT,
        "name": name,
        "version": version,
        "created": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "git": git_state(),
        "pipeline_run_id": os.environ.get("KFP_RUN_ID") or None,
        "dataset": _provenance(info, "data", ("uri", "sha256")),
        "calibration": _provenance(info, "calibration", ("uri", "sha256")),
        "metrics": metrics,
        "cpu": cpu_info().card(),
        "model": {
            "kind": info.kind,
            "runtime": info.runtime,
            "precision": info.precision,
            "image_size": info.image_size,
            "weights": info.weights,
            "arch": info.arch,
        },
    }
    card.update(extra)
    card[SMOKE_FIELD] = dict(smoke)
    card["files"] = {rel: rec.to_json() for rel, rec in files.items()}
    return card
