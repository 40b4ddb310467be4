"""A container's exit code read by polling its state, never by the engine's blocking ``/wait``.

The docker SDK's ``Container.wait()`` (and ``containers.run()`` without ``detach``, which calls it) posts
``/containers/{id}/wait`` with no timeout. podman's Docker-compatible API can miss an exit that happens
before it starts watching for one, and then never answers (containers/podman bug 28514, fixed upstream
in 2026; Debian bookworm ships podman 4.3.1): the caller hangs for ever. Inspecting the container's state
is an ordinary request, bounded by the client's timeout, and reads the same exit code on Docker and podman.
"""

from __future__ import annotations

import time
from typing import Any

from personseg.errors import UserError

# States after which a container runs no more (Docker's names; podman's compatible API reports the same).
ENDED = ("exited", "dead")


class ContainerStillRunning(UserError):
    """The container had not ended when the caller's deadline passed."""


def wait_for_exit(container: Any, timeout: float | None = None, poll: float = 0.2) -> int:
    """Poll ``container`` (a docker SDK ``Container``) until it has ended; return its exit code.

    ``timeout`` None waits as long as the container runs (a pipeline step may train for hours); otherwise
    ``ContainerStillRunning`` names the container and its state once ``timeout`` seconds have passed.
    """
    deadline = None if timeout is None else time.monotonic() + timeout
    while True:
        container.reload()
        state = container.attrs.get("State") or {}
        status = str(state.get("Status", ""))
        if status in ENDED:
            return int(state.get("ExitCode", -1))
        if deadline is not None and time.monotonic() >= deadline:
            raise ContainerStillRunning(f"container {container.name} ({container.short_id}) is still {status!r} "
                                        f"after {timeout:g}s")
        time.sleep(poll)


def run_to_exit(client: Any, image: str, command: list[str] | None, timeout: float,
                **options: Any) -> tuple[int, bytes]:
    """Run ``command`` in ``image`` to its end; return its exit code and output; remove the container.

    What ``client.containers.run(image, command, remove=True)`` does, without its unbounded ``/wait``;
    ``command`` None keeps the image's.
    """
    container = client.containers.run(image, command, detach=True, **options)
    try:
        code = wait_for_exit(container, timeout)
        return code, container.logs(stdout=True, stderr=True)
    finally:
        container.remove(force=True)
