"""No import circles: the modules of personseg and personseg_kfp, ordered by what they import, form no loop.

A circle hidden behind a function-level import (``commands/pipeline.py`` and its ``_pipeline_remote.py``
once imported each other) still ties two modules into one: neither can be read, moved or tested alone.
The graph is ``tests/test_layers.py``'s, so function-level imports count; a package's own ``__init__``
counts as a module like any other.
"""

from __future__ import annotations

import graphlib
import shutil
from pathlib import Path

from test_layers import PACKAGES, ROOT, import_graph


def circle(graph: dict[str, list[tuple[str, int]]]) -> list[str]:
    """One import circle of ``graph`` (its modules, the first repeated last), or [] when there is none."""
    order = graphlib.TopologicalSorter({m: {t for t, _ in targets if t != m} for m, targets in graph.items()})
    try:
        order.prepare()
    except graphlib.CycleError as exc:
        return list(exc.args[1])
    return []


def test_no_module_imports_itself_through_others():
    assert circle(import_graph(ROOT)) == []


def test_a_circle_through_a_function_level_import_is_found(tmp_path: Path):
    for package in PACKAGES:
        shutil.copytree(ROOT / package, tmp_path / package, ignore=shutil.ignore_patterns("__pycache__"))
    upload = tmp_path / "personseg" / "commands" / "pipeline" / "upload.py"
    upload.write_text(upload.read_text() + "\n\ndef _planted():\n    from personseg.commands.pipeline import run\n")
    run = tmp_path / "personseg" / "commands" / "pipeline" / "run.py"
    run.write_text(run.read_text() + "\n\ndef _planted():\n    from personseg.commands.pipeline import upload\n")
    found = circle(import_graph(tmp_path))
    assert set(found) == {"personseg.commands.pipeline.run", "personseg.commands.pipeline.upload"}
