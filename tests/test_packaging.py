"""Every folder of modules is a package the distribution ships: one without ``__init__.py`` works from a
checkout (a namespace package) but is left out of the installed wheel and the step images."""

from __future__ import annotations

import configparser
from pathlib import Path

from setuptools import find_packages

ROOT = Path(__file__).resolve().parents[1]


def test_every_module_folder_is_a_shipped_package() -> None:
    cfg = configparser.ConfigParser()
    cfg.read(ROOT / "setup.cfg")
    include = [p.strip() for p in cfg["options.packages.find"]["include"].replace(",", " ").split()]
    shipped = set(find_packages(str(ROOT), include=include))
    folders = {str(p.parent.relative_to(ROOT)).replace("/", ".")
               for top in ("personseg", "personseg_kfp") for p in (ROOT / top).rglob("*.py")
               if "__pycache__" not in p.parts}
    assert folders - shipped == set(), "folders of modules without __init__.py: not installed"
