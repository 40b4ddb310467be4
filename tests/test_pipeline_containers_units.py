"""The container runner's pieces without an engine: the step's environment, the run folder's group bit, and
how a step container is run, waited on and removed (against a recording stand-in for the docker SDK client).

The stand-in copies the docker SDK 7.x calls the runner makes (``containers.run(detach=True)`` returning a
container with ``logs(stream=True)``, ``reload()`` and its state in ``attrs``, ``remove()``; ``images.get``
raising ``ImageNotFound``). What it does not do, an engine does: auto-removal, podman 4.3's 500 on a removed
container, a kill from outside. Those run for real in tests/test_pipeline_containers_slow.py.
"""

from __future__ import annotations

import stat
import threading
from pathlib import Path

import docker
import pytest

from personseg.errors import UserError
from personseg_kfp.local import containers
from personseg_kfp.local.containers import group_writable, run_step_container, step_environment


class FakeStream:
    """A followed log: its lines, then (``hold``) open until closed, as a log podman never ends would be."""

    def __init__(self, lines: list[bytes], hold: bool = False) -> None:
        self.lines, self.closed = lines, threading.Event()
        if not hold:
            self.closed.set()

    def __iter__(self):
        yield from self.lines
        self.closed.wait()

    def close(self) -> None:
        self.closed.set()


class FakeContainer:
    def __init__(self, code: int, lines: list[bytes], fail_logs: bool = False, hold_log: bool = False) -> None:
        self.name, self.id, self.code, self.fail_logs, self.removed = "step-1", "c0ffee" * 4, code, fail_logs, False
        self.stream = FakeStream(lines, hold_log)
        self.client = self  # container.client.containers.get(id) is this container again
        self.containers = self

    def get(self, container_id: str) -> FakeContainer:
        assert container_id == self.id
        return self

    def logs(self, stream: bool, follow: bool) -> FakeStream:
        if self.fail_logs:
            raise KeyboardInterrupt  # the person pressed Ctrl-C while the step ran
        return self.stream

    def reload(self) -> None:
        self.attrs = {"State": {"Status": "exited", "ExitCode": self.code}}

    def remove(self, force: bool) -> None:
        self.removed = force


class FakeClient:
    def __init__(self, container: FakeContainer, images: tuple[str, ...] = ("img/pipeline:1",)) -> None:
        self.container, self.known, self.run_args = container, images, None
        self.images, self.containers = self, self

    def get(self, image: str) -> object:
        if image not in self.known:
            raise docker.errors.ImageNotFound(image)
        return object()

    def run(self, **kwargs) -> FakeContainer:
        self.run_args = kwargs
        return self.container


COMMAND = ["sh", "-ec", "program", "--executor_input", "{}"]


def test_a_step_runs_without_auto_remove_with_its_command_as_entrypoint_and_is_removed(capsys) -> None:
    client = FakeClient(FakeContainer(0, [b"step says hi\n"]))
    assert run_step_container(client, "img/pipeline:1", COMMAND, {"/r": {"bind": "/r"}}, user="1000:1000") == 0
    args = client.run_args
    assert "auto_remove" not in args and args["detach"] is True
    assert args["entrypoint"] == ["sh"] and args["command"] == COMMAND[1:]  # as Kubernetes' `command` does
    assert args["user"] == "1000:1000" and args["volumes"] == {"/r": {"bind": "/r"}}
    assert client.container.removed
    assert "step says hi" in capsys.readouterr().out


def test_a_killed_step_fails_with_its_signal_named_and_is_removed(capsys) -> None:
    client = FakeClient(FakeContainer(137, [b"epoch 1/2\n"]))
    assert run_step_container(client, "img/pipeline:1", COMMAND, {}) == 137
    assert "ended with exit 137 (killed by SIGKILL)" in capsys.readouterr().out
    assert client.container.removed


def test_a_log_the_engine_never_ends_is_closed_after_the_container_has(capsys, monkeypatch) -> None:
    """podman has had releases whose followed log outlived the container: the step still ends, with its code."""
    monkeypatch.setattr(containers, "LOG_GRACE_SECONDS", 0.2)
    client = FakeClient(FakeContainer(3, [b"last words\n"], hold_log=True))
    codes: list[int] = []
    runner = threading.Thread(target=lambda: codes.append(run_step_container(client, "img/pipeline:1", COMMAND, {})),
                              daemon=True)
    runner.start()
    runner.join(10)
    assert not runner.is_alive(), "the step never ended: its log was not closed"
    assert codes == [3] and client.container.stream.closed.is_set()
    assert "last words" in capsys.readouterr().out and client.container.removed


def test_a_step_interrupted_on_the_host_is_removed_too() -> None:
    client = FakeClient(FakeContainer(0, [], fail_logs=True))
    with pytest.raises(KeyboardInterrupt):
        run_step_container(client, "img/pipeline:1", COMMAND, {})
    assert client.container.removed


def test_a_missing_image_is_named_with_how_to_build_it() -> None:
    client = FakeClient(FakeContainer(0, []))
    with pytest.raises(UserError, match=r"no image other/pipeline:latest: build it first \(make images"):
        run_step_container(client, "other/pipeline", COMMAND, {})
    assert client.run_args is None


def test_kfp_runs_steps_with_ours_only_inside_the_block() -> None:
    from kfp.local import docker_task_handler

    original = docker_task_handler.run_docker_container
    with containers.containers_for_steps():
        assert docker_task_handler.run_docker_container is run_step_container
    assert docker_task_handler.run_docker_container is original


def test_steps_get_storage_variables_and_step_settings_not_host_paths() -> None:
    env = step_environment({"MINIO_ENDPOINT": "http://127.0.0.1:9000", "AWS_SECRET_ACCESS_KEY": "k",
                            "PERSONSEG_PROGRESS_FILE": "/runs/p", "PERSONSEG_DATASETS": "/checkout/datasets",
                            "PERSONSEG_CACHE": "/root/.cache/personseg", "PERSONSEG_DEPLOY_STATE": "runs/deploy",
                            "DOCKER_HOST": "unix:///x.sock", "HOME": "/root", "PATH": "/venv/bin"})
    assert env == {"MINIO_ENDPOINT": "http://127.0.0.1:9000", "AWS_SECRET_ACCESS_KEY": "k",
                   "PERSONSEG_PROGRESS_FILE": "/runs/p"}  # the deploy state is mounted only when deploying there


def test_the_run_folder_gains_only_its_group_write_bit(tmp_path: Path) -> None:
    root = tmp_path / "runs"
    root.mkdir(mode=0o755)
    root.chmod(0o755)
    group_writable(root)
    assert stat.S_IMODE(root.stat().st_mode) == 0o775


def test_the_command_offers_the_runners_run_local_knows() -> None:
    from personseg.commands.pipeline import run as command
    from personseg_kfp.local import run

    assert command.RUNNERS == run.RUNNERS


def test_the_cli_starts_without_personseg_kfp_as_in_the_serving_image() -> None:
    import subprocess
    import sys

    code = ("import sys; sys.modules['personseg_kfp'] = None; sys.modules['kfp'] = None\n"
            "from personseg.cli import main\n"
            "raise SystemExit(main(['serve', '--help']))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and "usage: personseg serve" in done.stdout, done.stderr[-2000:]


def test_a_run_that_deploys_as_a_container_gives_the_steps_the_engine_and_the_deploy_state(tmp_path: Path) -> None:
    import socket

    from personseg_kfp.local.containers import step_access

    root, state, sock = tmp_path / "runs", tmp_path / "deploy", tmp_path / "engine.sock"
    root.mkdir()
    with socket.socket(socket.AF_UNIX) as listener:
        listener.bind(str(sock))
        sock.chmod(0o600)  # as podman leaves its socket
        env = {"DOCKER_HOST": f"unix://{sock}", "PERSONSEG_DEPLOY_STATE": str(state), "MINIO_ENDPOINT": "http://e"}
        access = step_access(root, "container", env)
        assert access.volumes == {str(state): {"bind": str(state), "mode": "rw"},
                                  str(sock): {"bind": str(sock), "mode": "rw"}}
        assert access.environment == {"MINIO_ENDPOINT": "http://e", "PERSONSEG_DEPLOY_STATE": str(state),
                                      "DOCKER_HOST": f"unix://{sock}"}
        assert stat.S_IMODE(sock.stat().st_mode) == 0o620 and state.is_dir()
        assert access.groups == tuple(sorted({root.stat().st_gid, state.stat().st_gid, sock.stat().st_gid}))

        other = step_access(root, "kubernetes", env)  # no engine, no state: the socket is not the steps' business
        assert other.volumes == {} and "DOCKER_HOST" not in other.environment
        with pytest.raises(UserError, match="deploy_target=local in a containerized run"):
            step_access(root, "local", env)


def test_a_log_streamed_in_pieces_is_printed_in_whole_lines_each_indented_once(capsys) -> None:
    from kfp.local.logging_utils import indented_print

    pieces = [b"Traceback (most", b" recent call last):\n  File \"/opt/venv/x.py\"", b", line 1\nValueError: bad\n",
              b"no newline at the end"]
    client = FakeClient(FakeContainer(1, pieces))
    with indented_print():
        run_step_container(client, "img/pipeline:1", COMMAND, {})
    lines = capsys.readouterr().out.splitlines()
    assert lines[:4] == ["    Traceback (most recent call last):", "      File \"/opt/venv/x.py\", line 1",
                         "    ValueError: bad", "    no newline at the end"]
