"""``personseg.netutil.free_port`` and that it is the only free-port helper in the checkout."""

from __future__ import annotations

import re
import socket
from pathlib import Path

import pytest

from personseg.netutil import free_port

ROOT = Path(__file__).resolve().parents[1]
SOURCES = ("personseg", "personseg_kfp", "tests", "benchmarks", "components", "pipelines", "scripts", "images")


def test_free_port_is_bindable_and_nobody_answers_on_it() -> None:
    port = free_port()
    assert 1024 <= port <= 65535
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", port), timeout=2).close()
    with socket.create_server(("127.0.0.1", port)):  # free: a server can take it
        pass


def test_no_other_module_picks_ports_itself() -> None:
    """Every caller imports the one helper: no second ``free_port`` and no other ``bind((host, 0))``."""
    own = re.compile(r"def _?(free|closed)_port\b|\.bind\(\(\s*[\"'][\d.]+[\"']\s*,\s*0\s*\)\)")
    offenders = [f"{path.relative_to(ROOT)}:{n}" for top in SOURCES for path in sorted((ROOT / top).rglob("*.py"))
                 for n, line in enumerate(path.read_text().splitlines(), 1)
                 if own.search(line) and path != ROOT / "personseg" / "netutil.py"]
    assert offenders == []
