"""Starting the local S3 server (``weed mini``) survives a port taken between choosing it and weed binding it.

The ports are chosen free here and bound by weed a moment later; another process (often another
weed starting at the same time) can take one in between. weed then refuses it at start-up, or dies
when binding it, and the start is retried with newly chosen ports.
"""

from __future__ import annotations

import socket
import stat
from pathlib import Path

import pytest

from personseg.netutil import free_port
from personseg.storage import weed as s3server
from personseg.storage.client import Store


def _check_serves(root: Path, server: s3server.LocalS3) -> None:
    Store(server.config()).ensure_bucket("ready")
    recorded = s3server.running_server(root)
    assert recorded is not None and recorded.endpoint == server.endpoint and recorded.ports == server.ports


def test_a_chosen_port_taken_by_another_process_is_chosen_again(tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    chosen: list[dict[str, int]] = []
    real = s3server._choose_ports
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as thief:
        stolen = free_port()
        thief.bind(("127.0.0.1", stolen))
        thief.listen()

        def choose(port: int | None) -> dict[str, int]:
            ports = real(port)
            if not chosen:  # the race: another process binds a chosen port before weed does
                ports["volume"] = stolen
            chosen.append(ports)
            return ports

        monkeypatch.setattr(s3server, "_choose_ports", choose)
        server = s3server.start_local_s3(tmp_path / "s3", timeout=60)
        try:
            assert len(chosen) == 2 and server.ports == chosen[1] and stolen not in server.ports.values()
            _check_serves(tmp_path / "s3", server)
        finally:
            server.stop()


def _weed_that_loses_the_race_once(tmp_path: Path) -> Path:
    """weed, except that its first start dies as weed does when a port is taken after its own check.

    The message and exit code are weed's: ``glog.Fatalf("failed to listen on grpc port %d: %v", ...)``
    in weed/command/filer.go (SeaweedFS 4.x), and glog's Fatalf exits with 255. The window between
    weed's port check and its bind is too short to hit on purpose with the real binary.
    """
    real = s3server.weed_binary()
    mark = tmp_path / "lost-once"
    script = tmp_path / "weed"
    script.write_text(f"""#!/bin/sh
if [ ! -e '{mark}' ]; then
  : > '{mark}'
  echo "F1207 03:00:00.000000 filer.go:463 failed to listen on grpc port 43753: listen tcp 127.0.0.1:43753: bind: \
address already in use"
  exit 255
fi
exec '{real}' "$@"
""")
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    return script


@pytest.mark.parametrize("fixed", [False, True])
def test_weed_dying_on_a_taken_grpc_port_is_retried(fixed: bool, tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(s3server.WEED_VAR, str(_weed_that_loses_the_race_once(tmp_path)))
    port = free_port() if fixed else None
    server = s3server.start_local_s3(tmp_path / "s3", port=port, timeout=60)
    try:
        assert (tmp_path / "lost-once").exists() and server.alive()
        assert port is None or server.s3_port == port
        _check_serves(tmp_path / "s3", server)
    finally:
        server.stop()


def test_a_start_that_fails_for_another_reason_is_not_retried(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    script = tmp_path / "weed"
    script.write_text(f"#!/bin/sh\necho started >> '{tmp_path / 'starts'}'\necho 'F1207 bad flag -dir'\nexit 255\n")
    script.chmod(0o755)
    monkeypatch.setenv(s3server.WEED_VAR, str(script))
    with pytest.raises(s3server.UserError, match="weed mini exited with code 255 during start-up: .*bad flag"):
        s3server.start_local_s3(tmp_path / "s3", timeout=10)
    assert (tmp_path / "starts").read_text() == "started\n"
