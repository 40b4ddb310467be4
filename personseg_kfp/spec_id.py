"""The identity of a compiled pipeline: a sha256 of its spec, which names versions and schedules.

The hash is over the parsed documents (pipeline spec and kubernetes platform spec) in canonical
JSON, so comments, key order and YAML layout do not count; ``sdkVersion`` does not either (it names
the kfp that wrote the file; a different kfp that writes the same spec runs the same pipeline).

The KFP API server re-serializes what it stores (protojson: ``32.0`` comes back as ``32``, proto
defaults dropped), so a spec read back from the server never hashes like the local file. The hash
is therefore computed locally and recorded in the description of what it identifies.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

import yaml

from personseg import __version__
from personseg.errors import UserError

VOLATILE = ("sdkVersion",)
SPEC_TAG = "spec-sha256:"


@dataclass(frozen=True)
class Package:
    """A compiled pipeline file with its name, description and spec hash."""

    path: Path
    name: str
    description: str
    sha256: str

    @property
    def marker(self) -> str:
        """What goes into a description to say which spec this is."""
        return SPEC_TAG + self.sha256

    def default_version(self) -> str:
        """``<personseg version>-<spec sha12>``: readable in the UI, new whenever the spec changes."""
        return f"{__version__}-{self.sha256[:12]}"


def load_package(path: str | Path) -> Package:
    """Read and hash a compiled pipeline; a missing or foreign file is a ``UserError``."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"--package {path}: no such file (run `personseg pipeline compile` first)")
    try:
        docs = [d for d in yaml.safe_load_all(path.read_text()) if d is not None]
    except yaml.YAMLError as exc:
        raise UserError(f"--package {path}: not YAML ({str(exc).splitlines()[0]})") from None
    info = docs[0].get("pipelineInfo") if docs and isinstance(docs[0], dict) else None
    if not isinstance(info, dict) or not info.get("name"):
        raise UserError(f"--package {path}: not a compiled KFP pipeline (no pipelineInfo.name)")
    return Package(path, info["name"], info.get("description", ""), spec_sha256(docs))


def spec_sha256(docs: list[dict]) -> str:
    """Hex sha256 of the documents in canonical JSON, volatile top-level fields left out."""
    stable = [{k: v for k, v in doc.items() if k not in VOLATILE} for doc in docs]
    return hashlib.sha256(json.dumps(stable, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def has_marker(description: str | None, package: Package) -> bool:
    """Whether a description records this package's spec hash."""
    return package.marker in (description or "")
