"""A container's exit code read by polling its state, never by the engine's blocking ``/wait``.

The docker SDK's ``Container.wait()`` (and ``containers.run()`` without ``detach``, which calls it) posts
``/containers/{id}/wait`` with no timeout. podman's Docker-compatible API can miss an exit that happens
before it starts watching for one, and then never answers (containers/podman bug 28514, fixed upstream
in 2026; Debian bookworm ships podman 4.3.1): the caller hangs for ever. Inspecting the container's state
is an ordinary request, bounded by the client's timeout, and reads the same exit code on Docker and podman.

A followed log (``logs(stream=True, follow=True)``) should end when the container does; podman has had
releases where it did not (containers/podman bugs 6627 and 11461). ``close_when_ended`` bounds that wait by
the container's life.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

from personseg.errors import UserError

log = logging.getLogger(__name__)

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


def close_when_ended(container: Any, stream: Any, grace: float = 10.0, poll: float = 2.0) -> threading.Thread:
    """Close ``stream`` (``container``'s followed log) ``grace`` seconds after the container has ended.

    Runs in a daemon thread, which it returns; the reader's loop then ends as if the engine had closed the
    stream. Closing a stream that already ended does nothing. The container is watched through its own
    ``Container`` object, so the caller's is not reloaded from another thread.
    """
    def watch() -> None:
        try:
            wait_for_exit(container.client.containers.get(container.id), poll=poll)
        except Exception as exc:  # removed meanwhile, or the engine went away: nothing left to follow
            log.debug("watching container %s: %s", container.id, exc)
        time.sleep(grace)
        stream.close()

    watcher = threading.Thread(target=watch, name=f"close-log-{container.id[:12]}", daemon=True)
    watcher.start()
    return watcher
