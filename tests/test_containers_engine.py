"""The engine module against a real engine: Docker where one answers, else the podman service it starts."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import pytest
from containers_fixtures import TINY_IMAGE, engine, import_tiny_image, run_to_exit  # noqa: F401

from personseg.containers.engine import CONTAINERS_CONF, connect, podman_env
from personseg.containers.exits import ContainerStillRunning, close_when_ended, wait_for_exit


def test_podman_reads_a_project_local_containers_conf(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CONTAINERS_CONF", raising=False)
    env = podman_env(tmp_path)
    assert Path(env["CONTAINERS_CONF"]).read_text() == CONTAINERS_CONF
    assert 'runtime = "runc"' in CONTAINERS_CONF and "default_ulimits = []" in CONTAINERS_CONF
    monkeypatch.setenv("CONTAINERS_CONF", "/etc/site/containers.conf")
    assert podman_env(tmp_path / "other")["CONTAINERS_CONF"] == "/etc/site/containers.conf"


def test_a_container_runs_as_uid_1000_on_the_host_network_and_outlives_the_engine_connection(engine) -> None:  # noqa: F811
    client = engine.client
    image_id = import_tiny_image(client)
    try:
        code, out = run_to_exit(client, TINY_IMAGE, ["/bin/id", "-u"], 120, user="1000:1000", network_mode="host",
                                labels={"personseg.test": "engine"})
        assert (code, out.decode().strip()) == (0, "1000")

        first = connect()  # an engine of its own, which this test closes
        detached = first.client.containers.run(TINY_IMAGE, ["/bin/sleep", "300"], user="1000:1000",
                                               network_mode="host", detach=True, labels={"personseg.test": "engine"})
        host = first.docker_host
        first.close()
        if first.kind == "podman":  # the service stopped; the container is conmon's and keeps running
            assert not Path(host.removeprefix("unix://")).exists()
        with connect() as again:
            time.sleep(1)
            found = again.client.containers.get(detached.id)
            assert found.status == "running"
            found.stop(timeout=1)
            found.remove()
            assert again.client.containers.list(all=True, filters={"label": "personseg.test=engine"}) == []
    finally:
        for left in client.containers.list(all=True, filters={"label": "personseg.test=engine"}):
            left.remove(force=True)
        client.images.remove(image_id, force=True)


def test_no_engine_at_all_is_a_clear_error(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from personseg.containers import engine as module

    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path}/nothing.sock")
    monkeypatch.setattr(module, "DEFAULT_SOCKET", f"unix://{tmp_path}/none.sock")
    monkeypatch.setattr(module.shutil, "which", lambda name: None)
    with pytest.raises(module.EngineUnavailable, match="no Docker engine answers at .*nothing.sock"):
        connect()


def test_a_docker_host_that_answers_is_used_as_it_is(engine) -> None:  # noqa: F811
    os.environ["DOCKER_HOST"] = engine.docker_host
    try:
        with connect() as same:
            assert same.docker_host == engine.docker_host and same._service is None
    finally:
        del os.environ["DOCKER_HOST"]


def test_an_exit_code_is_read_from_the_state_and_a_deadline_names_the_container(engine) -> None:  # noqa: F811
    """Quick exits, read without podman's /wait (which can miss them), and a deadline that ends the waiting."""
    client = engine.client
    image_id = import_tiny_image(client)
    try:
        codes = [run_to_exit(client, TINY_IMAGE, ["/bin/sh", "-c", f"exit {code}"], 120,
                             labels={"personseg.test": "engine"})[0] for code in (0, 3, 0, 7)]
        assert codes == [0, 3, 0, 7]
        running = client.containers.run(TINY_IMAGE, ["/bin/sleep", "300"], detach=True,
                                        labels={"personseg.test": "engine"})
        with pytest.raises(ContainerStillRunning, match=rf"container {running.name} .* still 'running' after 1s"):
            wait_for_exit(running, timeout=1)
        running.kill()
        assert wait_for_exit(running, timeout=60) == 137
    finally:
        for left in client.containers.list(all=True, filters={"label": "personseg.test=engine"}):
            left.remove(force=True)
        client.images.remove(image_id, force=True)


def test_a_followed_log_is_closed_once_the_watched_container_has_ended(engine) -> None:  # noqa: F811
    """The watcher closes a real engine's log stream: here one that stays open (its container sleeps on)
    while the container watched, a short one, ends; the reader's loop then ends as if the engine closed it."""
    client = engine.client
    image_id = import_tiny_image(client)
    labels = {"personseg.test": "engine"}
    try:
        talker = client.containers.run(TINY_IMAGE, ["/bin/sh", "-c", "echo one; sleep 300"], detach=True, labels=labels)
        short = client.containers.run(TINY_IMAGE, ["/bin/sleep", "1"], detach=True, labels=labels)
        stream = talker.logs(stream=True, follow=True)
        start = time.monotonic()
        watcher = close_when_ended(short, stream, grace=0.5, poll=0.2)
        read: list[bytes] = []
        reader = threading.Thread(target=lambda: read.extend(stream), daemon=True)
        reader.start()
        reader.join(30)
        assert not reader.is_alive(), "the log stream was not closed"
        assert b"".join(read) == b"one\n" and time.monotonic() - start >= 1.0  # not before `short` ended
        watcher.join(5)
        assert not watcher.is_alive()
        talker.reload()
        assert talker.status == "running"  # only the stream was closed, not the container
    finally:
        for left in client.containers.list(all=True, filters={"label": "personseg.test=engine"}):
            left.remove(force=True)
        client.images.remove(image_id, force=True)
