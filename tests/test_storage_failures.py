"""Failure modes against real servers: bad credentials, no server, missing things, a crash mid-upload,
and the `personseg storage up|env|down` lifecycle."""

from __future__ import annotations

import logging
import os
import shlex
import stat
import subprocess
import threading
from pathlib import Path

import pytest
import storage_fixtures
from storage_fixtures import MODEL_BUCKET, make_model_dir, point_env_at, publish, unique_name

from personseg.cli import main
from personseg.netutil import free_port
from personseg.storage.card import CARD
from personseg.storage.client import Store
from personseg.storage.errors import BadCredentials, EndpointUnreachable, MissingBucket, MissingKey, StorageError
from personseg.storage.registry import Registry
from personseg.storage.weed import running_server, start_local_s3
from personseg.uris import local_model

# The real-server fixtures, bound here so pytest finds them in this module.
s3_server = storage_fixtures.s3_server
s3_env = storage_fixtures.s3_env


@pytest.mark.parametrize("wrong", ["MINIO_SECRET_KEY", "MINIO_ACCESS_KEY"])
def test_wrong_credentials_are_rejected_clearly(
    s3_env, wrong: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    bogus = "Wr0ngWr0ngWr0ng-not-the-key"
    monkeypatch.setenv(wrong, bogus)
    with pytest.raises(BadCredentials) as err:
        Registry.from_env().resolve("anything")
    message = str(err.value)
    assert "rejected the credentials" in message and "MINIO_SECRET_KEY" in message
    assert ("SignatureDoesNotMatch" if wrong == "MINIO_SECRET_KEY" else "InvalidAccessKeyId") in message
    assert bogus not in message and s3_env.secret_key not in message
    assert main(["models", "list"]) == 2
    captured = capsys.readouterr()
    assert captured.err.startswith("personseg models list: error: ") and "rejected the credentials" in captured.err
    assert captured.err.count("\n") == 1 and bogus not in captured.err + captured.out


def test_unreachable_endpoint_after_retries(s3_env, monkeypatch: pytest.MonkeyPatch) -> None:
    dead = free_port()
    monkeypatch.setenv("MINIO_ENDPOINT", f"http://127.0.0.1:{dead}")
    expected = rf"127.0.0.1:{dead} unreachable after 3 tries \(connection refused\)"
    with pytest.raises(EndpointUnreachable, match=expected):
        Store.from_env().get_bytes("models", "x")


def test_missing_bucket_and_missing_key_have_their_own_messages(s3_env, monkeypatch: pytest.MonkeyPatch) -> None:
    store = Store.from_env()
    with pytest.raises(MissingKey, match=r"s3://models/no/such/key: no such object"):
        store.get_bytes(MODEL_BUCKET, "no/such/key")
    with pytest.raises(MissingBucket, match=r"bucket 'no-such-bucket' does not exist"):
        store.get_bytes("no-such-bucket", "k")
    monkeypatch.setenv("PERSONSEG_MODEL_BUCKET", "no-such-bucket")
    with pytest.raises(MissingBucket, match="no-such-bucket"):
        local_model("models:/anything@production")


def test_a_non_s3_http_server_is_named_as_such(s3_env, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MINIO_ENDPOINT", f"http://127.0.0.1:{s3_env.ports['master']}")  # weed's master, not S3
    with pytest.raises(StorageError, match="did not answer like an S3 server"):
        Store.from_env().get_bytes("models", "x")


def test_no_secret_in_logs(s3_env, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    reg = Registry.from_env()
    name = unique_name()
    publish(reg, make_model_dir(tmp_path / "m"), name)
    reg.pull(name, tmp_path / "out")
    assert "publishing" in caplog.text
    assert s3_env.secret_key not in caplog.text


def test_server_killed_mid_upload_leaves_no_visible_version(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """Kill -9 the server right after the first file of a publish lands; restart it on the same data.

    The crash point is injected by wrapping ``Store.upload_file`` around the real upload, so it is
    exact and every request still goes to the real server.
    """
    root = tmp_path / "s3"
    server = start_local_s3(root)
    try:
        point_env_at(monkeypatch, server)
        monkeypatch.setenv("PERSONSEG_S3_RETRIES", "1")
        monkeypatch.setenv("PERSONSEG_MODEL_BUCKET", "crashy")
        monkeypatch.setenv("PERSONSEG_CACHE", str(tmp_path / "cache"))
        model = make_model_dir(tmp_path / "m", weights=os.urandom(6 * 1024 * 1024))
        name = unique_name()
        real_upload = Store.upload_file
        landed: list[str] = []

        def upload_then_crash(self: Store, bucket: str, key: str, path: Path) -> None:
            real_upload(self, bucket, key, path)
            landed.append(key)
            if len(landed) == 1:
                server.kill()

        monkeypatch.setattr(Store, "upload_file", upload_then_crash)
        with pytest.raises(EndpointUnreachable):
            publish(Registry.from_env(), model, name)
        assert not server.alive() and len(landed) >= 1
        monkeypatch.setattr(Store, "upload_file", real_upload)

        # Restart on the same data and endpoint while a reader is already retrying: the reader's
        # first tries are refused, backoff carries it until the server answers.
        monkeypatch.setenv("PERSONSEG_S3_RETRIES", "7")
        monkeypatch.setenv("PERSONSEG_S3_BACKOFF", "0.1")
        restarted: list = []
        restart = threading.Thread(target=lambda: restarted.append(start_local_s3(root, port=server.s3_port)))
        reg = Registry.from_env()
        caplog.set_level(logging.DEBUG, logger="personseg.storage.client")
        restart.start()
        try:
            versions = reg.versions(name)
        finally:
            restart.join()
            server = restarted[0] if restarted else server
        assert "connection refused; retrying" in caplog.text
        assert versions == []
        survived = reg._listing(name)
        assert all(CARD not in keys for keys in survived.values())
        with pytest.raises(MissingKey, match="no complete version"):
            local_model(f"models:/{name}")
        version = publish(reg, model, name)
        assert version > max(survived, default=0)
        assert reg.versions(name) == [version]
    finally:
        server.stop()


def test_cli_storage_up_env_down(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    root = tmp_path / "storage"
    port = free_port()
    assert main(["storage", "up", "--dir", str(root), "--port", str(port)]) == 0
    try:
        out = capsys.readouterr().out
        env_file = root / "s3.env"
        assert stat.S_IMODE(env_file.stat().st_mode) == 0o600
        assert stat.S_IMODE((root / "s3-config.json").stat().st_mode) == 0o600
        exports = [line for line in env_file.read_text().splitlines() if line.startswith("export ")]
        values = dict(shlex.split(line)[1].split("=", 1) for line in exports)
        assert values["MINIO_ENDPOINT"] == f"http://127.0.0.1:{port}" and values["MINIO_SECURE"] == "false"
        assert values["MINIO_SECRET_KEY"] not in out
        assert f"export MINIO_ENDPOINT=http://127.0.0.1:{port}" in out
        shell = subprocess.run(
            ["bash", "-c", out + '\nprintf %s "$MINIO_SECRET_KEY"'], capture_output=True, text=True, check=True
        )
        assert shell.stdout == values["MINIO_SECRET_KEY"]  # eval "$(personseg storage up)" works

        from personseg.storage.config import S3Config

        store = Store(S3Config.from_env(values))
        store.ensure_bucket("lifecycle")
        store.put_bytes("lifecycle", "k", b"v")
        assert store.get_bytes("lifecycle", "k") == b"v"

        pid = running_server(root).pid
        assert main(["storage", "up", "--dir", str(root)]) == 0  # already running: same server
        assert f"pid {pid})" in capsys.readouterr().out
        assert main(["storage", "env", "--dir", str(root)]) == 0
        assert f"export MINIO_ENDPOINT=http://127.0.0.1:{port}" in capsys.readouterr().out

        # the printed stop command works from another folder, without the virtualenv on PATH
        stop = next(line for line in out.splitlines() if "; stop: " in line).split("; stop: ", 1)[1]
        done = subprocess.run(["bash", "-c", stop], cwd=tmp_path, env={**os.environ, "PATH": "/usr/bin:/bin"},
                              capture_output=True, text=True, timeout=120)
        assert done.returncode == 0 and done.stdout == f"stopped weed mini (pid {pid})\n", done.stderr
        assert running_server(root) is None
    finally:
        leftover = running_server(root)
        if leftover is not None:
            leftover.stop()
    assert main(["storage", "down", "--dir", str(root)]) == 0  # stopped already: said so
    assert "no local S3 server running from" in capsys.readouterr().out
    assert main(["storage", "env", "--dir", str(root)]) == 2
    assert "no local S3 server running" in capsys.readouterr().err
