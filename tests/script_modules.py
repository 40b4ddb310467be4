"""Load a repository script that is not a package module (``benchmarks/*.py``, ``images/*.py``) for a test."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

ROOT = Path(__file__).resolve().parents[1]


def load_script(relative: str) -> ModuleType:
    """The module at ``ROOT / relative``, executed fresh (each call gets its own copy)."""
    path = ROOT / relative
    spec = importlib.util.spec_from_file_location(path.stem.replace("-", "_") + "_script", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
