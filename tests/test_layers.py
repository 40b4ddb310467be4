"""Layers import downward only: a module never imports one of a higher layer, not even inside a function.

The order, lowest first (a module may import its own layer and any below it):

1. helpers: small top-level modules (``atomic``, ``errors``, ``cpuquota``, ``modeldir``, ``quality``,
   ``kube`` the Kubernetes API client, ...) and the ``console`` and ``containers`` packages, which
   import nothing above them;
2. storage: the S3 client, model registry and cards, and ``uris`` (it fetches ``s3://`` and
   ``models:/`` through storage, so it sits with it);
3. models, data, labeling;
4. runtime: running a saved model (ONNX Runtime, OpenVINO, torch) behind ``load_predictor``;
5. training, swap, quantize, evaluate: the steps' own work;
6. serving: the HTTP server and its pre/post-processing;
7. segment, deploy, bench: they run the server's code (segment its letterbox and compositing, deploy
   its smoke probe and local server, bench its load test), so they sit above serving, which never
   imports them;
8. steps: the pipeline's step logic, calling everything below;
9. personseg_kfp: the KFP side;
10. commands and the CLI.

Every module must have a layer: a new one that matches none fails here until it is placed.
"""

from __future__ import annotations

import ast
import shutil
from collections.abc import Callable, Iterable
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("personseg", "personseg_kfp")
HELPERS = ("atomic", "console", "containers", "cpuinfo", "cpuquota", "errors", "hashing", "image_refs", "imageops",
           "kube", "memlimit", "modeldir", "netutil", "quality", "threadname")
LAYERS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("helpers", ("personseg",) + tuple(f"personseg.{h}" for h in HELPERS)),
    ("storage", ("personseg.storage", "personseg.uris")),
    ("models/data/labeling", ("personseg.models", "personseg.data", "personseg.labeling")),
    ("runtime", ("personseg.runtime",)),
    ("training/swap/quantize/evaluate", ("personseg.training", "personseg.swap", "personseg.quantize",
                                         "personseg.evaluate")),
    ("serving", ("personseg.serving",)),
    ("segment/deploy/bench", ("personseg.segment", "personseg.deploy", "personseg.bench")),
    ("steps", ("personseg.steps",)),
    ("personseg_kfp", ("personseg_kfp",)),
    ("commands/cli", ("personseg.commands", "personseg.cli", "personseg.__main__")),
)


def layer_of(module: str) -> int:
    """The index in ``LAYERS`` of the longest prefix naming ``module`` (``personseg`` alone is the root only)."""
    best, rank = -1, -1
    for index, (_, prefixes) in enumerate(LAYERS):
        for prefix in prefixes:
            exact_only = prefix == "personseg"
            hit = module == prefix or (not exact_only and module.startswith(prefix + "."))
            if hit and len(prefix) > best:
                best, rank = len(prefix), index
    if rank < 0:
        raise KeyError(module)
    return rank


def modules(root: Path) -> dict[str, Path]:
    """Every module of ``PACKAGES`` under ``root``, by dotted name (a package by its own name)."""
    found = {}
    for package in PACKAGES:
        for path in sorted((root / package).rglob("*.py")):
            name = ".".join(path.relative_to(root).with_suffix("").parts)
            found[name.removesuffix(".__init__")] = path
    return found


def imports_of(name: str, path: Path, known: Iterable[str]) -> list[tuple[str, int]]:
    """Our modules ``path`` imports anywhere in it (functions and ``TYPE_CHECKING`` blocks too), with lines."""
    known = set(known)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(parts + ([base] if base else []))
            targets = [f"{base}.{alias.name}" if f"{base}.{alias.name}" in known else base for alias in node.names]
        else:
            continue
        for target in targets:
            if target.split(".")[0] not in PACKAGES:
                continue
            while target not in known and "." in target:  # an attribute of a module: the module
                target = target.rpartition(".")[0]
            found.append((target, node.lineno))
    return found


def violations(graph: dict[str, list[tuple[str, int]]], layer: Callable[[str], int] = layer_of) -> list[str]:
    """Each import from a lower layer into a higher one, and each module no layer names."""
    problems = []
    for module, targets in sorted(graph.items()):
        try:
            own = layer(module)
        except KeyError:
            problems.append(f"{module}: in no layer (add it to LAYERS in tests/test_layers.py)")
            continue
        for target, line in targets:
            try:
                theirs = layer(target)
            except KeyError:
                problems.append(f"{target}: in no layer (imported by {module}:{line})")
                continue
            if theirs > own:
                problems.append(f"{module}:{line} ({LAYERS[own][0]}) imports {target} ({LAYERS[theirs][0]})")
    return problems


def import_graph(root: Path) -> dict[str, list[tuple[str, int]]]:
    """What every module under ``root`` imports."""
    found = modules(root)
    return {name: imports_of(name, path, found) for name, path in found.items()}


def test_no_module_imports_a_higher_layer():
    assert violations(import_graph(ROOT)) == []


def test_an_upward_import_fails_even_inside_a_function(tmp_path: Path):
    for package in PACKAGES:
        shutil.copytree(ROOT / package, tmp_path / package, ignore=shutil.ignore_patterns("__pycache__"))
    card = tmp_path / "personseg" / "storage" / "card.py"
    planted = "\n\ndef _planted():\n    from personseg.deploy.expected_mask import expected_mask\n"
    card.write_text(card.read_text() + planted)
    found = violations(import_graph(tmp_path))
    assert len(found) == 1 and found[0].startswith("personseg.storage.card:")
    assert found[0].endswith("(storage) imports personseg.deploy.expected_mask (segment/deploy/bench)")


def test_relative_and_from_package_imports_resolve_to_the_module(tmp_path: Path):
    (tmp_path / "personseg" / "storage").mkdir(parents=True)
    (tmp_path / "personseg" / "serving").mkdir()
    (tmp_path / "personseg" / "__init__.py").write_text("")
    (tmp_path / "personseg" / "storage" / "__init__.py").write_text("")
    (tmp_path / "personseg" / "serving" / "__init__.py").write_text("")
    (tmp_path / "personseg" / "serving" / "model.py").write_text("")
    (tmp_path / "personseg" / "storage" / "a.py").write_text("from ..serving import model\nfrom . import b\n")
    (tmp_path / "personseg" / "storage" / "b.py").write_text("import personseg.serving.model as m\n")
    assert violations(import_graph(tmp_path)) == [
        "personseg.storage.a:1 (storage) imports personseg.serving.model (serving)",
        "personseg.storage.b:1 (storage) imports personseg.serving.model (serving)",
    ]


def test_a_module_outside_every_layer_fails():
    graph = {"personseg.newthing": [], "personseg.serving.app": [("personseg.other", 3)]}
    assert violations(graph) == ["personseg.newthing: in no layer (add it to LAYERS in tests/test_layers.py)",
                                 "personseg.other: in no layer (imported by personseg.serving.app:3)"]


@pytest.mark.parametrize(("module", "layer"), [
    ("personseg", "helpers"), ("personseg.errors", "helpers"), ("personseg.uris", "storage"),
    ("personseg.storage.registry", "storage"), ("personseg.runtime", "runtime"), ("personseg.runtime.onnx", "runtime"),
    ("personseg.steps.gate", "steps"), ("personseg_kfp.pipeline", "personseg_kfp"), ("personseg.cli", "commands/cli"),
])
def test_layer_of_uses_the_longest_prefix_and_the_root_only_by_name(module: str, layer: str):
    assert LAYERS[layer_of(module)][0] == layer
    with pytest.raises(KeyError):
        layer_of("personseg.not_placed")
