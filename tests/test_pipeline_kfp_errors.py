"""A wrong, unreachable or too old ``--host`` is one line naming the host.

Against a closed port and the KFP API stand-in (tests/kfp_fixtures.py), which imitates the 401/403
a proxy in front of the API answers and a configurable healthz ``tag_name``; it does not imitate a
real backend's version-dependent behaviour (see its docstring), so the version tests show only that
personseg reads the version and decides on it.
"""

from __future__ import annotations

import logging
import os
import socket
import subprocess
import sys
from typing import TYPE_CHECKING

import pytest
from pipeline_fixtures import ROOT

from personseg.cli import main
from personseg.netutil import free_port

COMMANDS = {
    "submit": ["pipeline", "submit"],
    "schedule": ["pipeline", "schedule", "--cron", "0 3 * * *"],
    "upload": ["pipeline", "upload"],
}

if TYPE_CHECKING:
    from kfp_fixtures import StubKfp

pytest_plugins = ("kfp_fixtures",)  # the stand-in and compiled-package fixtures


def _one_line(capsys: pytest.CaptureFixture, caplog: pytest.LogCaptureFixture) -> str:
    err = capsys.readouterr().err
    assert len(err.splitlines()) == 1, err
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING], caplog.text  # no retry chatter
    return err


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_closed_port(command: str, capsys, caplog) -> None:
    host = f"http://127.0.0.1:{free_port()}"
    assert main([*COMMANDS[command], "--host", host]) == 2
    err = _one_line(capsys, caplog)
    assert host in err and "connection refused" in err


@pytest.mark.parametrize("command", sorted(COMMANDS))
@pytest.mark.parametrize("status, body, hint", [
    (401, "Jwt is missing", "401 Unauthorized"),
    (403, "RBAC: access denied", "403 Forbidden"),
])
def test_refused(stub: tuple[str, StubKfp], command: str, status: int, body: str, hint: str, capsys, caplog) -> None:
    host, state = stub
    state.refuse = (status, body)
    assert main([*COMMANDS[command], "--host", host, "--token-env", "MY_KFP_TOKEN"]) == 2
    err = _one_line(capsys, caplog)
    assert host in err and hint in err and "$MY_KFP_TOKEN" in err and "--token-env" in err
    assert state.runs == [] and state.recurring == [] and state.versions == []


def test_refused_with_a_token_says_the_token_was_not_accepted(stub: tuple[str, StubKfp], capsys, caplog) -> None:
    host, state = stub
    state.refuse = (401, "Jwt is expired")
    assert main(["pipeline", "submit", "--host", host]) == 2
    err = _one_line(capsys, caplog)
    assert "token in $KFP_TOKEN was not accepted" in err
    assert {auth for *_, auth in state.requests} == {"Bearer test-token"}  # it was sent


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_not_a_kfp_v2_api(stub: tuple[str, StubKfp], command: str, capsys, caplog) -> None:
    host, state = stub
    wrong = host + "/pipeline"  # the stand-in serves the API at the root: a wrong path prefix
    assert main([*COMMANDS[command], "--host", wrong]) == 2
    err = _one_line(capsys, caplog)
    assert wrong in err and "404" in err and "not a KFP v2 API" in err


def test_a_login_page_is_not_the_api(stub: tuple[str, StubKfp], capsys, caplog) -> None:
    host, state = stub
    state.refuse = (200, "<html><body>Log in to Kubeflow</body></html>")
    assert main(["pipeline", "submit", "--host", host]) == 2
    err = _one_line(capsys, caplog)
    assert host in err and "healthz JSON" in err and "$KFP_TOKEN" in err


@pytest.mark.parametrize("command", sorted(COMMANDS))
@pytest.mark.parametrize("tag", ["2.0.5", "2.4.1", "v2.4.0-rc.1"])
def test_old_backend_is_refused(stub: tuple[str, StubKfp], command: str, tag: str, capsys, caplog) -> None:
    from personseg_kfp.backend import MIN_KFP_BACKEND

    host, state = stub
    state.tag_name = tag
    assert main([*COMMANDS[command], "--host", host]) == 2
    err = _one_line(capsys, caplog)
    assert f"KFP backend {tag} at {host} is older than {MIN_KFP_BACKEND}" in err and "secretNameParameter" in err
    assert [m for m, *_ in state.requests] == ["GET"]  # healthz only: nothing was created
    assert state.runs == [] and state.recurring == [] and state.pipelines == []


@pytest.mark.parametrize("tag", ["2.5.0", "2.14.4", "v2.15.0", "2.16.1"])
def test_new_enough_backend_proceeds(stub: tuple[str, StubKfp], tag: str, caplog) -> None:
    host, state = stub
    state.tag_name = tag
    assert main(["pipeline", "submit", "--host", host]) == 0
    assert len(state.runs) == 1 and not [r for r in caplog.records if r.levelno >= logging.WARNING]


@pytest.mark.parametrize("tag", [None, "unknown", "master-55ec846", ""])
def test_unknown_backend_version_warns_and_proceeds(stub: tuple[str, StubKfp], tag: str | None, caplog) -> None:
    host, state = stub
    state.tag_name = tag
    with caplog.at_level(logging.WARNING):
        assert main(["pipeline", "submit", "--host", host]) == 0
    assert len(state.runs) == 1
    (warning,) = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert host in warning.getMessage() and "2.5.0" in warning.getMessage()


def test_the_real_cli_prints_one_line_for_a_closed_port() -> None:
    """The installed entry point as a person runs it: logging and warnings configured by the CLI itself."""
    host = f"http://127.0.0.1:{free_port()}"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, "-m", "personseg", "pipeline", "upload", "--host", host],
                          capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 2
    assert done.stderr.splitlines() == [f"personseg pipeline upload: error: --host {host}: cannot reach the KFP API: "
                                        "connection refused"]


def test_unreachable_reasons_and_server_messages() -> None:
    import urllib.error

    from personseg_kfp.kfp_errors import server_message, unreachable_reason

    dns = urllib.error.URLError(socket.gaierror(-2, "Name or service not known"))
    assert unreachable_reason(dns, 10) == "host name not resolved (DNS)"
    assert unreachable_reason(urllib.error.URLError(TimeoutError("timed out")), 10) == "no answer within 10 s (timeout)"
    assert server_message(b'{"error": "x", "code": 5, "message": "Pipeline not\\nfound"}') == "Pipeline not found"
    assert server_message(b"upstream connect error") == "upstream connect error"


def test_the_guide_states_the_range_the_check_enforces() -> None:
    """docs/kubeflow.md's "2.5.0 to 2.17.x" is MIN_KFP_BACKEND to NEWEST_KFP_BACKEND."""
    import re

    from pipeline_fixtures import ROOT

    from personseg_kfp.backend import MIN_KFP_BACKEND, NEWEST_KFP_BACKEND

    guide = (ROOT / "docs" / "kubeflow.md").read_text()
    (stated,) = re.findall(r"Kubeflow Pipelines backend \*\*(\S+) to (\S+)\.x\*\*", guide)
    assert stated == (MIN_KFP_BACKEND, NEWEST_KFP_BACKEND)


@pytest.mark.parametrize("tag", ["2.17.0", "2.17.3"])
def test_the_newest_supported_line_proceeds_quietly(stub: tuple[str, StubKfp], tag: str, caplog) -> None:
    host, state = stub
    state.tag_name = tag
    with caplog.at_level(logging.WARNING):
        assert main(["pipeline", "submit", "--host", host]) == 0
    assert len(state.runs) == 1 and not [r for r in caplog.records if r.levelno >= logging.WARNING]


@pytest.mark.parametrize("tag", ["2.18.0", "3.0.0"])
def test_a_backend_newer_than_the_range_warns_and_proceeds(stub: tuple[str, StubKfp], tag: str, caplog) -> None:
    host, state = stub
    state.tag_name = tag
    with caplog.at_level(logging.WARNING):
        assert main(["pipeline", "submit", "--host", host]) == 0
    (warning,) = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert f"KFP backend {tag} at {host} is newer than 2.17.x" in warning.getMessage()
    assert "supported: 2.5.0 to 2.17.x" in warning.getMessage()
