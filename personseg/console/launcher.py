"""How to run personseg again from any folder, for the commands we print (stop a server, tear down S3).

A bare ``personseg`` works only when the shell's PATH finds this installation; ``make demo`` runs it
from the checkout's ``.venv`` without activating it, so there the printed command names it in full.
"""

from __future__ import annotations

import shlex
import shutil
import sys
from pathlib import Path


def personseg_command() -> str:
    """``personseg`` if PATH finds this installation's script, else its absolute path (or ``python -m``)."""
    script = Path(sys.executable).parent / "personseg"  # the console script pip put beside this interpreter
    found = shutil.which("personseg")
    if found and script.is_file() and Path(found).resolve() == script.resolve():
        return "personseg"
    if script.is_file():
        return shlex.quote(str(script.absolute()))
    return f"{shlex.quote(sys.executable)} -m personseg"
