"""Load a repository script that is not a package module (``benchmarks/*.py``, ``images/*.py``) for a test."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

ROOT = Path(__file__).resolve().parents[1]


def load_script(relative: str) -> ModuleType:
    """The module at ``ROOT / relative``, executed fresh (each call gets its own copy).

    It is registered in ``sys.modules`` while it runs, as an import would, because dataclasses look
    their module up there.
    """
    path = ROOT / relative
    name = path.stem.replace("-", "_") + "_script"
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module
