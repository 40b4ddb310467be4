"""A two-branch pipeline whose consumer reads an artifact ``dsl.OneOf``, to test the driver stand-in on.

No ``from __future__ import annotations`` here: kfp reads the components' annotations as objects.
"""

from pathlib import Path

import yaml
from kfp import compiler, dsl
from kfp.dsl import Dataset, Input, Output


@dsl.component(base_image="python:3.11")
def make(out: Output[Dataset]) -> None:
    """Nothing: only its output artifact matters."""


@dsl.component(base_image="python:3.11")
def use(data: Input[Dataset]) -> None:
    """Nothing: only its input artifact matters."""


@dsl.pipeline(name="oneof")
def oneof(flag: int = 1) -> None:
    """``make`` in one of two branches, ``use`` reading whichever ran."""
    with dsl.If(flag == 1):
        first = make()
    with dsl.Else():
        second = make()
    use(data=dsl.OneOf(first.outputs["out"], second.outputs["out"]))


def oneof_package(tmp_path: Path) -> dict:
    """The pipeline as kfp compiles it (IR as a dict)."""
    compiler.Compiler().compile(oneof, str(tmp_path / "oneof.yaml"))
    return yaml.safe_load((tmp_path / "oneof.yaml").read_text())
