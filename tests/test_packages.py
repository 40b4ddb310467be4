"""Every folder of library modules is a regular package, so an install (not only an editable one) ships it.

setup.cfg finds packages with ``packages = find:``, which skips a folder without ``__init__.py`` (a namespace
package): the editable install still imports it from the checkout, while a wheel, and so the images, lack it
and the CLI fails at start.
"""

from __future__ import annotations

from pathlib import Path

from setuptools import find_packages

ROOT = Path(__file__).resolve().parent.parent


def test_every_module_folder_is_a_package_the_install_ships() -> None:
    shipped = set(find_packages(str(ROOT), include=["personseg", "personseg.*", "personseg_kfp", "personseg_kfp.*"]))
    folders = {".".join(path.parent.relative_to(ROOT).parts)
               for top in ("personseg", "personseg_kfp") for path in (ROOT / top).rglob("*.py")}
    assert folders - shipped == set(), "add an __init__.py to each of these folders"
