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
read by waiting, and it is removed afterwards, whatever happened, so no container is left behind.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from personseg.errors import UserError

# Variables the steps read from the host's environment: object storage (endpoint, keys, region) ...
FORWARDED_PREFIXES = ("MINIO_", "AWS_")
# ... and these settings. PERSONSEG_DATASETS is not among them: the image has its own copy of the datasets.
FORWARDED = ("PERSONSEG_PROGRESS_FILE", "PERSONSEG_THREADS", "PERSONSEG_GIT_COMMIT")
RUN_LABEL = "io.personseg.pipeline-run"
STEP_USER = "1000:1000"


def step_environment(environ: dict[str, str] | None = None) -> dict[str, str]:
    """The host variables a step container gets (storage endpoint and keys, ``PERSONSEG_*`` settings)."""
    environ = dict(os.environ if environ is None else environ)
    return {k: v for k, v in environ.items() if k.startswith(FORWARDED_PREFIXES) or k in FORWARDED}


def container_runner(pipeline_root: Path, run_id: str) -> Any:  # -> kfp.local.DockerRunner
    """A ``DockerRunner`` for steps that write under ``pipeline_root`` as the image's user."""
    from kfp import local

    return local.DockerRunner(
        network_mode="host",
        user=STEP_USER,
        # the pipeline root's group may write there (``writable_root``): the step user joins that group
        group_add=[str(pipeline_root.stat().st_gid)],
        environment=step_environment(),
        labels={RUN_LABEL: run_id},
    )


def writable_root(pipeline_root: Path) -> None:
    """Let the pipeline root's group write there, so the step user (joined to that group) can.

    The folder belongs to whoever runs the command (often root, on a CI machine); the steps run as user 1000
    and make each run's folder in it. Only the group's write bit is added; nothing else changes.
    """
    mode = pipeline_root.stat().st_mode
    if not mode & 0o020:
        pipeline_root.chmod(mode | 0o020)


def _describe_exit(code: int) -> str:
    """``exit 137 (killed by SIGKILL)`` for a signal's code, ``exit N`` otherwise."""
    if code > 128:
        with contextlib.suppress(ValueError):
            return f"exit {code} (killed by {signal.Signals(code - 128).name})"
    return f"exit {code}"


def run_step_container(client: Any, image: str, command: list[str], volumes: dict[str, Any],
                       **run_args: Any) -> int:
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
                                      stdout=True, stderr=True, volumes=volumes, **run_args)
    try:
        for chunk in container.logs(stream=True, follow=True):
            print(chunk.decode(errors="replace"), end="")
        code = int(container.wait()["StatusCode"])
        if code != 0:
            print(f"\nstep container {container.name} ({image}) ended with {_describe_exit(code)}", flush=True)
        return code
    finally:
        with contextlib.suppress(docker.errors.NotFound):
            container.remove(force=True)


@contextlib.contextmanager
def containers_for_steps() -> Iterator[None]:
    """kfp.local's ``DockerRunner`` runs each step with ``run_step_container`` for the duration."""
    from kfp.local import docker_task_handler

    original = docker_task_handler.run_docker_container
    docker_task_handler.run_docker_container = run_step_container
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
