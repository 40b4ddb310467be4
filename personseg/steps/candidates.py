"""The pipeline's ``candidates`` parameter: which network runs on which runtime, and the index naming them.

``candidates`` is comma-separated ``network:runtime``: networks are ``bilinear`` (the trained seed) and
``swapped`` (the swap step's output), runtimes are the keys of ``personseg.steps.runtime_builders.BUILDERS``.
The quantize step writes one directory holding each candidate's saved model and an index,
``candidates.json``, that evaluate and deploy read; paths in it are relative to that directory, since
each step sees the artifact at another place.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from personseg.errors import UserError
from personseg.steps.runtime_builders import BUILDERS

NETWORKS = ("bilinear", "swapped")
DEFAULT = "bilinear:onnxruntime,bilinear:openvino,swapped:onnxruntime,swapped:openvino"
INDEX = "candidates.json"


@dataclass(frozen=True)
class Candidate:
    """One network on one runtime, named ``network:runtime``."""

    network: str
    runtime: str

    @property
    def name(self) -> str:
        """``network:runtime``, as the ``candidates`` parameter spells it."""
        return f"{self.network}:{self.runtime}"

    @property
    def model_dir(self) -> str:
        """Its saved model's folder in the candidates artifact (also its row name in the evaluation)."""
        return f"{self.network}-int8-{self.runtime}"


def fp32_onnx_dir(network: str) -> str:
    """The folder of ``network``'s FP32 ONNX saved model (the speed and agreement reference)."""
    return f"{network}-fp32-onnx"


def parse_candidates(value: str) -> list[Candidate]:
    """The candidates named by ``value``, in its order; one clear error for any bad entry."""
    def bad(why: str) -> UserError:
        return UserError(f"candidates {value!r}: {why}; expected comma-separated network:runtime with network in "
                         f"{', '.join(NETWORKS)} and runtime in {', '.join(sorted(BUILDERS))}")

    entries = [e.strip() for e in str(value).split(",")]
    if not any(entries):
        raise bad("empty")
    out: list[Candidate] = []
    for entry in entries:
        network, sep, runtime = (part.strip() for part in entry.partition(":"))
        if not sep or not network or not runtime:
            raise bad(f"{entry!r} is not network:runtime")
        if network not in NETWORKS:
            raise bad(f"unknown network {network!r}")
        if runtime not in BUILDERS:
            raise bad(f"unknown runtime {runtime!r}")
        candidate = Candidate(network, runtime)
        if candidate in out:
            raise bad(f"{candidate.name} is named twice")
        out.append(candidate)
    return out


def canonical(value: str) -> str:
    """``value`` validated and written without spaces (what the retrain recipe hashes)."""
    return ",".join(c.name for c in parse_candidates(value))


def read_index(candidates_dir: str | Path) -> dict[str, Any]:
    """The index the quantize step wrote into ``candidates_dir``."""
    path = Path(candidates_dir) / INDEX
    try:
        return json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise UserError(f"candidates index {path}: unreadable ({exc})") from None


def candidate_entry(candidates_dir: str | Path, name: str) -> dict[str, Any]:
    """The index entry of candidate ``name``; an error when it is absent or failed to quantize."""
    index = read_index(candidates_dir)
    entry = next((c for c in index["candidates"] if c["name"] == name), None)
    if entry is None:
        known = ", ".join(c["name"] for c in index["candidates"])
        raise UserError(f"candidate {name!r}: not in {Path(candidates_dir) / INDEX} (candidates: {known})")
    if entry["status"] != "ok":
        raise UserError(f"candidate {name!r}: has no model ({entry['reason']})")
    return entry


def candidate_dir(candidates_dir: str | Path, name: str) -> Path:
    """Where candidate ``name``'s saved model is inside ``candidates_dir``."""
    return Path(candidates_dir) / candidate_entry(candidates_dir, name)["path"]
