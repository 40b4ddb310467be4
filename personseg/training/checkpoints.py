"""Per-epoch training state where a retried train step finds it: a local folder or an ``s3://`` prefix.

On a cluster a training pod can be preempted and KFP retries the task in a new pod with an empty
disk, so the state goes where the retry can read it (the pipeline keys the prefix by run and
retrain key). A state is never read half-written: a local file is written beside its place and
renamed over it, and an S3 object appears whole or not at all (one PUT, or a multipart upload that
only becomes visible when completed). A state records the recipe that shapes the weights; a place
holding another recipe's state is refused rather than overwritten.
"""

from __future__ import annotations

import logging
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from torch import nn

from personseg.training.loop import FitState
from personseg.training.state import STATE_FILE, load_state, save_state

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class CheckpointPlace:
    """Where one training run keeps its latest complete epoch: a folder or an ``s3://`` prefix."""

    uri: str

    @property
    def is_s3(self) -> bool:
        """True for an ``s3://`` prefix."""
        return self.uri.startswith("s3://")

    def describe(self) -> str:
        """The state file's full location, for messages."""
        return f"{self.uri.rstrip('/')}/{STATE_FILE}"

    def save(self, state: FitState, model: nn.Module, recipe: dict[str, Any]) -> None:
        """Replace the place's state with this epoch's, whole (see the module docstring)."""
        if not self.is_s3:
            save_state(Path(self.uri) / STATE_FILE, state, model, recipe)
            return
        from personseg.storage.client import Store

        target = self._target()
        with tempfile.TemporaryDirectory(prefix="personseg-ckpt-") as tmp:
            local = Path(tmp) / STATE_FILE
            save_state(local, state, model, recipe)
            store = Store.from_env()
            store.ensure_bucket(target.bucket)  # the registry's bucket: a first run makes it before publishing
            store.upload_file(target.bucket, target.key, local)

    def load(self, model: nn.Module, recipe: dict[str, Any]) -> FitState | None:
        """The saved state restored into ``model``, or None when the place holds none yet."""
        if not self.is_s3:
            path = Path(self.uri) / STATE_FILE
            return load_state(path, model, recipe) if path.is_file() else None
        from personseg.storage.client import Store
        from personseg.storage.errors import MissingBucket, MissingKey

        target = self._target()
        store = Store.from_env()
        with tempfile.TemporaryDirectory(prefix="personseg-ckpt-") as tmp:
            local = Path(tmp) / STATE_FILE
            try:
                store.download_file(target.bucket, target.key, local)
            except (MissingKey, MissingBucket):
                return None
            return load_state(local, model, recipe, where=self.describe())

    def _target(self) -> Any:
        from personseg.storage.s3uri import parse_s3_uri

        return parse_s3_uri(self.describe())


def resume_point(place: CheckpointPlace, model: nn.Module, recipe: dict[str, Any],
                 resume: str | Path | None) -> FitState | None:
    """The state to continue from: the place's own (a retried run), else ``resume``, else None."""
    found = place.load(model, recipe)
    if found is not None:
        log.info("resuming after epoch %d from %s", found.epoch, place.describe())
        return found
    if resume:
        return load_state(resume, model)
    return None


def check_place(uri: str) -> None:
    """Refuse a malformed ``s3://`` checkpoint prefix before any training (the error names it)."""
    if uri.startswith("s3://"):
        CheckpointPlace(uri)._target()
