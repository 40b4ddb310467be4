"""Model references: ``NAME``, ``NAME:VERSION``, ``NAME@STAGE``, each optionally ``models:/``-prefixed."""

from __future__ import annotations

import re
from dataclasses import dataclass

from personseg.errors import UserError

PREFIX = "models:/"
STAGES = ("candidate", "production")
_NAME = re.compile(r"[a-z0-9][a-z0-9._-]{0,127}")


@dataclass(frozen=True)
class ModelRef:
    """A parsed reference: a name plus at most one of version and stage."""

    name: str
    version: int | None = None
    stage: str | None = None

    def __str__(self) -> str:
        if self.version is not None:
            return f"{PREFIX}{self.name}:{self.version}"
        if self.stage is not None:
            return f"{PREFIX}{self.name}@{self.stage}"
        return f"{PREFIX}{self.name}"


def check_name(name: str) -> str:
    """A model name is lowercase letters, digits, '.', '_' and '-' (it becomes a key prefix)."""
    if not _NAME.fullmatch(name) or name.isdigit():
        raise UserError(
            f"model name {name!r}: use lowercase letters, digits, '.', '_', '-' (not only digits), "
            "starting with a letter or digit"
        )
    return name


def check_stage(stage: str) -> str:
    """Reject stages other than ``candidate`` and ``production``."""
    if stage not in STAGES:
        raise UserError(f"stage {stage!r}: expected one of {', '.join(STAGES)}")
    return stage


def parse_ref(ref: str) -> ModelRef:
    """Parse a model reference; every malformed part is named in the error."""
    text = str(ref)
    body = text[len(PREFIX) :] if text.startswith(PREFIX) else text
    if "@" in body:
        name, _, stage = body.partition("@")
        return ModelRef(check_name(name), stage=check_stage(stage))
    if ":" in body:
        name, _, version = body.partition(":")
        if not version.isdigit() or int(version) < 1:
            raise UserError(f"model reference {text!r}: version {version!r} is not a positive integer")
        return ModelRef(check_name(name), version=int(version))
    return ModelRef(check_name(body))
