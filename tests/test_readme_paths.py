"""The README's "How it works" table and every repository path the README and the guides name must exist.

A renamed module would otherwise leave the README or a guide pointing at nothing; the table must also cover
every pipeline component, and each component must really call the first library module of its row. The
guides' relative links must lead to files too.
"""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
TOP = ("personseg/", "personseg_kfp/", "components/", "pipelines/", "benchmarks/", "docs/", "manifests/",
       "images/", "scripts/", "tests/", "datasets/", "Makefile", "setup.cfg")


def _table() -> dict[str, tuple[list[str], list[str]]]:
    """``{step: (component paths, library paths)}`` from the table after "### How it works"."""
    section = re.split(r"\n#{1,3} ", README.read_text().split("### How it works", 1)[1], maxsplit=1)[0]
    rows = [line for line in section.splitlines() if line.startswith("| ") and not line.startswith("| step ")]
    table = {}
    for row in rows:
        step, component, library = (cell.strip() for cell in row.strip("|").split("|"))
        table[step] = (re.findall(r"`([^`]+)`", component), re.findall(r"`([^`]+)`", library))
    return table


def _module(path: str) -> str:
    return path.removesuffix(".py").removesuffix("/__init__").replace("/", ".")


def test_how_it_works_table_covers_every_component_with_real_paths() -> None:
    table = _table()
    components = sorted(p.stem for p in (ROOT / "personseg_kfp" / "components").glob("*.py") if p.stem != "__init__")
    assert sorted(step for step in table if not step.startswith("(")) == components
    for step, (component, library) in table.items():
        assert library, step
        for path in component + library:
            assert (ROOT / path).exists(), f"README How it works, row {step}: {path} does not exist"
        if component:
            assert component == [f"personseg_kfp/components/{step}.py"]
            assert f"from {_module(library[0])} import" in (ROOT / component[0]).read_text(), (
                f"{component[0]} does not call {_module(library[0])}")


def _missing_paths(text: str) -> list[str]:
    """Repository paths named in backticks that match no file (``<run>`` and ``{name}`` parts are wildcards)."""
    named = {m for m in re.findall(r"`([^`\s]+)`", text) if m.startswith(TOP)}
    return sorted(p for p in named if not any(ROOT.glob(re.split(r"[<{]", p)[0].rstrip("/") or ".")))


def test_every_repository_path_in_the_readme_exists() -> None:
    text = README.read_text()
    assert re.findall(r"`([^`\s]+)`", text) and _missing_paths(text) == []


def test_every_repository_path_and_link_in_the_guides_exists() -> None:
    guides = sorted((ROOT / "docs").rglob("*.md")) + [ROOT / "manifests" / "README.md"]
    assert len(guides) > 5
    for guide in guides:
        text = guide.read_text()
        assert _missing_paths(text) == [], guide.relative_to(ROOT)
        links = [link.split("#")[0] for link in re.findall(r"\]\(([^)\s]+)\)", text)
                 if not link.startswith(("http:", "https:", "#"))]
        broken = [link for link in links if not (guide.parent / link).exists()]
        assert broken == [], (guide.relative_to(ROOT), broken)


def test_the_readme_layer_table_is_the_order_the_layer_test_enforces() -> None:
    from test_layers import LAYERS, layer_of  # the order tests/test_layers.py checks imports against

    section = README.read_text().split("**Layers import downward only**", 1)[1].split("\n## ", 1)[0]
    rows = [line for line in section.splitlines() if line.startswith("| ") and not line.startswith("| layer ")]
    assert len(rows) == len(LAYERS), "one README row per layer, lowest first"
    for index, row in enumerate(rows):
        paths = re.findall(r"`([^`]+)`", row.split("|")[2])
        assert paths, row
        for path in paths:
            assert layer_of(_module(path.rstrip("/"))) == index, f"README layer row {index + 1}: {path}"


def test_the_readme_stays_a_front_door() -> None:
    lines = README.read_text().splitlines()
    assert len(lines) < 200, f"README.md has {len(lines)} lines: move detail to docs/ (measurements: docs/results.md)"


def test_the_readme_docs_index_lists_every_guide() -> None:
    index = README.read_text().split("## Documentation", 1)[1]
    guides = sorted(p.relative_to(ROOT).as_posix() for p in (ROOT / "docs").glob("*.md"))
    assert guides and [g for g in guides if f"`{g}`" not in index] == []
