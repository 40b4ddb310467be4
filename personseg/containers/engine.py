"""A container engine to talk to: a Docker engine where one answers, else podman serving the Docker API.

Users' machines usually run Docker (``DOCKER_HOST``, else the default socket). A machine without one
but with podman gets ``podman system service`` on a private socket for as long as the ``Engine`` is
open; containers it started keep running after the service stops (podman's conmon supervises them).
Both are driven through the ``docker`` SDK, so no caller depends on which engine it got.

podman reads a project-local ``containers.conf`` (named by ``CONTAINERS_CONF``, so the machine's own
configuration is never edited) that selects ``runc`` and the ``cgroupfs`` manager and drops the default
ulimits and pids limit: ``crun`` fails on hosts with hybrid cgroups and the default ulimits are refused
("setrlimit: Operation not permitted") inside unprivileged build containers. A ``CONTAINERS_CONF``
already set in the environment is used instead. ``PERSONSEG_PODMAN_OPTS`` adds global podman flags
(``--root DIR --runroot DIR --storage-driver vfs``) to use the image store a build wrote to.
"""

from __future__ import annotations

import logging
import os
import shlex
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from personseg.errors import UserError

log = logging.getLogger(__name__)

CONTAINERS_CONF_ENV = "CONTAINERS_CONF"
PODMAN_OPTS_ENV = "PERSONSEG_PODMAN_OPTS"
DEFAULT_SOCKET = "unix:///var/run/docker.sock"
CONTAINERS_CONF = """\
# Written by personseg for `podman system service`; see personseg/containers/engine.py.
[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"

[containers]
default_ulimits = []
pids_limit = 0
"""


class EngineUnavailable(UserError):
    """No Docker engine answers and podman cannot be started."""


@dataclass
class Engine:
    """An open Docker API connection; ``close()`` stops the podman service if this opened one.

    Attributes:
        client: a ``docker.DockerClient`` on the engine.
        docker_host: the ``DOCKER_HOST`` value that reaches it (for ``kfp.local.DockerRunner`` and the CLI).
        kind: ``docker`` or ``podman``: only for messages and documentation, never for behaviour.
    """

    client: Any
    docker_host: str
    kind: str
    _service: subprocess.Popen | None = field(default=None, repr=False)
    _scratch: Path | None = field(default=None, repr=False)

    def env(self) -> dict[str, str]:
        """Environment variables that point a Docker client (SDK or CLI) at this engine."""
        return {"DOCKER_HOST": self.docker_host}

    def close(self) -> None:
        """Close the client; stop the podman service this opened (its containers keep running)."""
        self.client.close()
        if self._service is not None:
            stop_service(self._service)
            self._service = None
        if self._scratch is not None:
            shutil.rmtree(self._scratch, ignore_errors=True)
            self._scratch = None

    def __enter__(self) -> Engine:
        """Use as ``with connect() as engine:``."""
        return self

    def __exit__(self, *exc: object) -> None:
        """Close on leaving the block, whatever happened in it."""
        self.close()


def _docker_module() -> Any:
    try:
        import docker
    except ImportError:
        raise EngineUnavailable("the docker Python package is missing: pip install 'personseg[deploy]'") from None
    return docker


def _answering(docker_host: str, timeout: float) -> Any | None:
    """A client on ``docker_host`` if ``docker info`` answers there, else None."""
    docker = _docker_module()
    try:
        client = docker.DockerClient(base_url=docker_host, version="auto", timeout=timeout)
        client.info()
    except Exception as exc:  # the SDK raises DockerException, requests' and urllib3's errors alike
        log.debug("no engine at %s: %s", docker_host, exc)
        return None
    return client


def _kind(client: Any) -> str:
    components = client.version().get("Components") or []
    return "podman" if any("podman" in str(c.get("Name", "")).lower() for c in components) else "docker"


def connect(state_dir: str | Path | None = None, timeout: float = 60.0) -> Engine:
    """The engine to use: ``DOCKER_HOST`` or the default socket when it answers, else a podman service.

    ``state_dir`` holds podman's socket, configuration and log (default: a temporary folder removed on
    ``close``). ``timeout`` bounds each API call and podman's start.
    """
    candidates = [os.environ["DOCKER_HOST"]] if os.environ.get("DOCKER_HOST") else []
    candidates.append(DEFAULT_SOCKET)
    for host in dict.fromkeys(candidates):
        client = _answering(host, timeout)
        if client is not None:
            return Engine(client, host, _kind(client))
    if shutil.which("podman") is None:
        raise EngineUnavailable(f"no container engine: no Docker engine answers at {' or '.join(candidates)} "
                                "and podman is not installed (install Docker, or apt-get install podman runc)")
    log.info("no Docker engine answers at %s; starting podman's Docker API service", " or ".join(candidates))
    return start_podman(state_dir, timeout)


def podman_env(folder: Path) -> dict[str, str]:
    """The environment for podman: ``CONTAINERS_CONF`` as given, else the project-local file in ``folder``."""
    env = dict(os.environ)
    if not env.get(CONTAINERS_CONF_ENV):
        conf = folder / "containers.conf"
        conf.write_text(CONTAINERS_CONF)
        env[CONTAINERS_CONF_ENV] = str(conf)
    return env


def podman_command(*args: str) -> list[str]:
    """``podman`` with the global flags of ``PERSONSEG_PODMAN_OPTS`` (e.g. another image store) and ``args``."""
    return ["podman", *shlex.split(os.environ.get(PODMAN_OPTS_ENV, "")), *args]


def start_podman(state_dir: str | Path | None = None, timeout: float = 60.0) -> Engine:
    """Start ``podman system service`` on a socket in ``state_dir`` and wait until it answers."""
    # A unix socket path is limited to 107 bytes: a short temporary folder holds it when state_dir is long.
    scratch = Path(tempfile.mkdtemp(prefix="personseg-podman-")) if state_dir is None else None
    folder = Path(state_dir) if state_dir is not None else scratch
    assert folder is not None
    folder.mkdir(parents=True, exist_ok=True)
    socket = folder / "podman.sock"
    if len(str(socket.resolve())) > 100:
        scratch = Path(tempfile.mkdtemp(prefix="personseg-podman-"))
        socket = scratch / "podman.sock"
    socket.unlink(missing_ok=True)
    docker_host = f"unix://{socket.resolve()}"
    log_path = folder / "podman-service.log"
    with open(log_path, "ab") as out:
        service = subprocess.Popen(podman_command("system", "service", "--time=0", docker_host),
                                   stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                   env=podman_env(folder), start_new_session=True)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if service.poll() is not None:
            break
        if socket.exists():
            client = _answering(docker_host, timeout)
            if client is not None:
                return Engine(client, docker_host, "podman", service, scratch)
        time.sleep(0.1)
    stop_service(service)
    if scratch is not None:
        shutil.rmtree(scratch, ignore_errors=True)
    raise EngineUnavailable(f"podman system service did not answer at {docker_host} within {timeout:g}s "
                            f"(exit code {service.returncode}); its log {log_path}:\n{_tail(log_path)}")


def stop_service(service: subprocess.Popen, grace: float = 10.0) -> None:
    """SIGTERM the podman service (it closes its socket), SIGKILL it after ``grace`` seconds."""
    if service.poll() is None:
        service.terminate()
        try:
            service.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            service.kill()
            service.wait(timeout=10)


def _tail(path: Path, lines: int = 15) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"
