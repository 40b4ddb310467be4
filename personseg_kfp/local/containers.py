"""Run the compiled pipeline's steps in their container image with ``kfp.local.DockerRunner``.

Each step runs as the image's user (1000) in the image the compiled YAML names (the pipeline image of
``personseg.image_refs``, which ``make images`` tags the same way), with the run folder mounted at its own path
and the host's network, so the steps reach an S3 server bound to 127.0.0.1 as the subprocess run does. The
host network is the one setting that behaves alike on Docker and on podman (rootful or rootless); an engine's
gateway address differs between the two and needs the server bound beyond loopback.

One function of kfp.local is replaced for the run: kfp 2.17.3 ``kfp/local/docker_task_handler.py``
``run_docker_container`` starts the container with ``auto_remove=True`` and then streams its logs and
waits on it. A container that already removed itself answers 404 on Docker, which kfp reads as success
(``return 0`` on ``NotFound``): a step killed mid-run would pass. podman 4.3's compatible API answers 500
instead, which kfp raises as an error. Here the container runs without auto-remove; its exit status is
read from its state (``personseg.containers.exits``: podman's ``/wait`` can miss a quick exit and never
answer), its followed log is closed if it stays open ``LOG_GRACE_SECONDS`` after the container ended, and it
is removed afterwards, whatever happened, so no container is left behind.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from personseg.containers.exits import close_when_ended, wait_for_exit
from personseg.errors import UserError

# Variables the steps read from the host's environment: object storage (endpoint, keys, region) and personseg's
# settings, less those naming this machine's paths or tools (the image has its own datasets, cache and no podman).
FORWARDED_PREFIXES = ("MINIO_", "AWS_", "PERSONSEG_")
HOST_ONLY = ("PERSONSEG_DATASETS", "PERSONSEG_CACHE", "PERSONSEG_CGROUP_ROOT", "PERSONSEG_PODMAN_OPTS",
             "PERSONSEG_WEED", "PERSONSEG_DEPLOY_STATE")
RUN_LABEL = "io.personseg.pipeline-run"
STEP_USER = "1000:1000"
# Where a containerized run deploys by default: the serving image on the same engine. `local` would start the
# server inside the deploy step's container, which ends with the step.
DEPLOY_TARGET = "container"
# How long a step's followed log may stay open after its container has ended (then it is closed: exits.py).
LOG_GRACE_SECONDS = 10.0


def step_environment(environ: dict[str, str] | None = None) -> dict[str, str]:
    """The host variables a step container gets (storage endpoint and keys, ``PERSONSEG_*`` settings)."""
    environ = dict(os.environ if environ is None else environ)
    return {k: v for k, v in environ.items() if k.startswith(FORWARDED_PREFIXES) and k not in HOST_ONLY}


@dataclass(frozen=True)
class StepAccess:
    """What a step container sees of the host besides the run folder kfp mounts: folders, variables, groups."""

    volumes: dict[str, dict[str, str]] = field(default_factory=dict)
    environment: dict[str, str] = field(default_factory=dict)
    groups: tuple[int, ...] = ()


def step_access(pipeline_root: Path, deploy_target: str, environ: dict[str, str] | None = None) -> StepAccess:
    """The run folder's group, the storage variables, and for ``deploy_target=container`` the engine and state.

    A container deploy runs inside the deploy step's container, so that step needs the engine's socket
    (``DOCKER_HOST``, mounted at its own path) and the deploy state folder (``PERSONSEG_DEPLOY_STATE``,
    mounted at its own path, so ``personseg deploy --target container --stop`` on the host finds it). The
    socket gives the steps the engine's power over this machine's containers: it is mounted only then.
    """
    environ = dict(os.environ if environ is None else environ)
    if deploy_target == "local":
        raise UserError("deploy_target=local in a containerized run would start the model server inside the "
                        "deploy step's container, which ends with the step: use deploy_target=container")
    env = step_environment(environ)
    volumes: dict[str, dict[str, str]] = {}
    folders = [pipeline_root]
    if deploy_target == "container":
        from personseg.deploy.local import STATE_DIR_ENV, state_dir

        state = state_dir(environ.get(STATE_DIR_ENV)).resolve()
        state.mkdir(parents=True, exist_ok=True)
        folders.append(state)
        volumes[str(state)] = {"bind": str(state), "mode": "rw"}
        env[STATE_DIR_ENV] = str(state)
        host = environ.get("DOCKER_HOST", "")
        if not host:
            raise UserError("deploy_target=container from a containerized run needs the engine's DOCKER_HOST")
        env["DOCKER_HOST"] = host
        if host.startswith("unix://"):
            socket = Path(host[len("unix://"):])
            volumes[str(socket)] = {"bind": str(socket), "mode": "rw"}
            folders.append(socket)
    for path in folders:
        group_writable(path)
    return StepAccess(volumes, env, tuple(sorted({f.stat().st_gid for f in folders})))


def container_runner(access: StepAccess, run_id: str) -> Any:  # -> kfp.local.DockerRunner
    """A ``DockerRunner`` for steps that run as the image's user, in the groups that may write the host folders."""
    from kfp import local

    return local.DockerRunner(network_mode="host", user=STEP_USER, group_add=[str(g) for g in access.groups],
                              environment=access.environment, labels={RUN_LABEL: run_id})


def group_writable(path: Path) -> None:
    """Let ``path``'s group write there (a folder), or connect (a socket), so the step user in that group can.

    The run folder belongs to whoever runs the command (often root, on a CI machine); the steps run as user
    1000 and make each run's folder in it. podman's socket is its owner's alone (Docker's already lets its
    group connect). Only the group's write bit is added; nothing else changes.
    """
    mode = path.stat().st_mode
    if not mode & 0o020:
        path.chmod(mode | 0o020)


def _describe_exit(code: int) -> str:
    """``exit 137 (killed by SIGKILL)`` for a signal's code, ``exit N`` otherwise."""
    if code > 128:
        with contextlib.suppress(ValueError):
            return f"exit {code} (killed by {signal.Signals(code - 128).name})"
    return f"exit {code}"


def run_step_container(client: Any, image: str, command: list[str], volumes: dict[str, Any],
                       extra_volumes: dict[str, Any] | None = None, **run_args: Any) -> int:
    """Run one step's container to its end; print its log; return its exit code; remove it.

    Replaces kfp 2.17.3 ``kfp.local.docker_task_handler.run_docker_container`` (same signature), without
    ``auto_remove`` (see the module's docstring) and with the command as the entrypoint. The image must be
    present on the engine already.
    """
    import docker

    image = image if ":" in image.rsplit("/", 1)[-1] else f"{image}:latest"
    try:
        client.images.get(image)
    except docker.errors.ImageNotFound:
        raise UserError(f"the container engine has no image {image}: build it first (make images, with "
                        "TORCH_WHEELS=<folder with torch's CPU wheel>) or pull it") from None
    # The compiled command replaces the image's ENTRYPOINT, as a Kubernetes container's `command` does (kfp
    # passes it as Docker's CMD, which the pipeline image's ENTRYPOINT, `personseg`, would receive as arguments).
    container = client.containers.run(image=image, entrypoint=command[:1], command=command[1:], detach=True,
                                      stdout=True, stderr=True, volumes={**volumes, **(extra_volumes or {})},
                                      **run_args)
    try:
        stream = container.logs(stream=True, follow=True)
        close_when_ended(container, stream, LOG_GRACE_SECONDS)
        for line in whole_lines(stream):
            print(line, end="")
        code = wait_for_exit(container)
        if code != 0:
            print(f"\nstep container {container.name} ({image}) ended with {_describe_exit(code)}", flush=True)
        return code
    finally:
        with contextlib.suppress(docker.errors.NotFound):
            container.remove(force=True)


def whole_lines(chunks: Iterable[bytes]) -> Iterator[str]:
    """The log stream as whole lines, each printed once.

    kfp.local indents each ``print`` (``logging_utils.indented_print``), and podman streams a log in pieces
    that split lines, which would put indentation inside a line and hide the step's error from the console.
    """
    pending = b""
    for chunk in chunks:
        pending += chunk
        *lines, pending = pending.split(b"\n")
        for line in lines:
            yield line.decode(errors="replace") + "\n"
    if pending:
        yield pending.decode(errors="replace") + "\n"


@contextlib.contextmanager
def containers_for_steps(access: StepAccess | None = None) -> Iterator[None]:
    """kfp.local's ``DockerRunner`` runs each step with ``run_step_container`` (and ``access``'s mounts)."""
    import functools

    from kfp.local import docker_task_handler

    original = docker_task_handler.run_docker_container
    docker_task_handler.run_docker_container = (
        functools.partial(run_step_container, extra_volumes=access.volumes) if access else run_step_container)
    try:
        yield
    finally:
        docker_task_handler.run_docker_container = original
        sys.stdout.flush()


@contextlib.contextmanager
def engine_in_env(env: dict[str, str]) -> Iterator[None]:
    """Set the engine's variables (``DOCKER_HOST``) for the run: kfp.local's handler connects with ``from_env``."""
    old = {key: os.environ.get(key) for key in env}
    os.environ.update(env)
    try:
        yield
    finally:
        for key, value in old.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def leftover_containers(client: Any, run_id: str) -> list[str]:
    """Names of this run's step containers still present (none, after a run, finished or failed)."""
    return [c.name for c in client.containers.list(all=True, filters={"label": f"{RUN_LABEL}={run_id}"})]
