"""The container target: the serving image run on this machine's engine, replaced only by a healthy successor.

As on Kubernetes, the new version's container pulls its model from the registry at start; the deploy
waits for readiness, runs the smoke test, checks the container still runs, and only then records it in
``<state_dir>/container-<name>.json`` and stops the previous container. A new container that exits,
never gets ready, fails the smoke test or is stopped meanwhile is removed (its log kept beside the
state) and the previous one keeps serving: the rollback. Docker or podman, whichever
``personseg.containers.engine`` finds; the state names containers by id, so either engine can stop them.
"""

from __future__ import annotations

import json
import logging
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import numpy as np

from personseg.atomic import write_json
from personseg.containers.engine import Engine, connect
from personseg.deploy.config import DeployConfig
from personseg.deploy.container_spec import LABEL_DEPLOYMENT, STOP_GRACE_S, run_options
from personseg.deploy.local import exclusive, http_post
from personseg.deploy.outcome import DeployFailed, DeployResult
from personseg.deploy.pinned_model import DeployRegistry, PinnedModel
from personseg.deploy.smoke import SmokeFailed, run_smoke
from personseg.errors import UserError
from personseg.netutil import free_port

log = logging.getLogger(__name__)
PREFIX = "container"
STOPPED = ("exited", "dead", "removing", "stopped", "removed")


def state_file(directory: Path, name: str) -> Path:
    """The state file of container deployment ``name``."""
    return directory / f"{PREFIX}-{name}.json"


def _recorded(directory: Path, name: str) -> dict[str, Any] | None:
    path = state_file(directory, name)
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise UserError(f"{path}: not valid JSON ({exc}); delete it to start afresh") from None


def _container(engine: Engine, container_id: str) -> Any | None:
    """The container ``container_id`` on ``engine``, or None when it is gone."""
    from docker.errors import NotFound

    try:
        return engine.client.containers.get(container_id)
    except NotFound:
        return None


def read_state(engine: Engine, directory: Path, name: str) -> dict[str, Any] | None:
    """The recorded deployment, or None; a record whose container no longer runs counts as none."""
    state = _recorded(directory, name)
    if not state:
        return None
    found = _container(engine, str(state.get("container", "")))
    if found is None or found.status != "running" or found.labels.get(LABEL_DEPLOYMENT) != name:
        return None
    return state


def _ready(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/v2/health/ready", timeout=2) as resp:
            return resp.status == 200
    except (urllib.error.URLError, OSError):
        return False


def _logs(container: Any, lines: int = 15) -> str:
    try:
        return container.logs(tail=lines).decode(errors="replace").rstrip()
    except Exception as exc:  # the engine may have removed it already; the message says so
        return f"(no log: {exc})"


def _status(container: Any) -> str:
    """The container's state as the engine reports it now (``removed`` once it is gone)."""
    from docker.errors import NotFound

    try:
        container.reload()
    except NotFound:
        return "removed"
    return str(container.status)


def wait_ready(url: str, container: Any, timeout: float) -> float:
    """Poll readiness until 200; fail early when the container stops. Returns seconds waited."""
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        status = _status(container)
        if status in STOPPED:
            code = container.attrs.get("State", {}).get("ExitCode")
            raise DeployFailed(f"container {container.name} {status} (exit code {code}) before becoming "
                               f"ready; last log lines:\n{_logs(container)}", rolled_back=False)
        if _ready(url):
            return time.monotonic() - start
        time.sleep(0.2)
    raise DeployFailed(f"container {container.name} not ready after {timeout:g}s; last log lines:\n"
                       f"{_logs(container)}", rolled_back=False)


def still_serving(url: str, container: Any) -> None:
    """After the smoke test: the new container must still run and be ready, or nothing would serve."""
    status = _status(container)
    if status != "running" or not _ready(url):
        raise DeployFailed(f"container {container.name} is {status} and "
                           f"{'ready' if _ready(url) else 'not ready'} after the smoke test; last log lines:\n"
                           f"{_logs(container)}", rolled_back=False)


def remove(container: Any, log_path: Path | None = None) -> None:
    """Stop ``container`` gracefully, keep its log in ``log_path``, and remove it."""
    from docker.errors import APIError, NotFound

    try:
        container.stop(timeout=STOP_GRACE_S)
    except NotFound:
        return
    except APIError:  # podman 4.3 answers 500, not 404, for a container that is already gone
        if _status(container) == "removed":
            return
        raise
    if log_path is not None:
        try:
            log_path.write_bytes(container.logs())
        except (APIError, OSError) as exc:
            log.warning("could not keep the log of %s: %s", container.name, exc)
    try:
        container.remove(force=True)
    except NotFound:
        pass


def ensure_image(engine: Engine, image: str) -> None:
    """Use the engine's copy of ``image``; pull it when absent; say how to build it when that fails."""
    from docker.errors import APIError, ImageNotFound

    try:
        engine.client.images.get(image)
        return
    except ImageNotFound:
        pass
    try:
        engine.client.images.pull(image)
    except APIError as exc:
        raise DeployFailed(f"--image {image}: not on this machine's {engine.kind} engine and not pulled ({exc}); "
                           "build it with `make images` or pass --image", rolled_back=False) from None


def start_container(engine: Engine, options: dict[str, Any]) -> Any:
    """Create and start the container; if the engine refuses, remove what it created and say why."""
    from docker.errors import APIError, NotFound

    try:
        return engine.client.containers.run(**options)
    except APIError as exc:
        try:
            engine.client.containers.get(options["name"]).remove(force=True)
        except (NotFound, APIError):
            pass
        raise DeployFailed(f"the {engine.kind} engine did not start container {options['name']} from "
                           f"{options['image']}: {exc}", rolled_back=False) from None


def deploy_container(
    cfg: DeployConfig,
    model: PinnedModel,
    registry: DeployRegistry | None,
    directory: Path,
    expected: np.ndarray,
) -> DeployResult:
    """Start the new version's container beside the old one; switch only if it passes the smoke test."""
    directory.mkdir(parents=True, exist_ok=True)
    with exclusive(directory, cfg.name, PREFIX), connect() as engine:
        return _deploy(engine, cfg, model, registry, directory, expected)


def _deploy(engine: Engine, cfg: DeployConfig, model: PinnedModel, registry: DeployRegistry | None, directory: Path,
            expected: np.ndarray) -> DeployResult:
    start = time.monotonic()
    recorded = _recorded(directory, cfg.name)
    old = read_state(engine, directory, cfg.name)
    ensure_image(engine, cfg.image)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log_path = directory / f"{PREFIX}-{cfg.name}-{port}.log"
    launched = time.monotonic()
    container = start_container(engine, run_options(cfg, model.pinned, port))
    try:
        wait_ready(url, container, cfg.timeout)
        ready = time.monotonic() - launched  # cold start: create and start, model pull, load, warm-up
        smoke = run_smoke(lambda path, body, ctype: http_post(url + path, body, ctype), expected)
        still_serving(url, container)
    except (DeployFailed, SmokeFailed) as exc:
        remove(container, log_path)
        keeps = (f"previous deployment keeps serving {old['model']} at {old['url']} (container {old['name']})"
                 if old else "no previous deployment was running")
        if registry is not None and model.in_registry:
            registry.mark(model.name, model.version, "rolled-back", detail=str(exc)[:2000])
        raise DeployFailed(f"container deploy of {model.pinned} failed: {exc}\nrollback: new container "
                           f"{container.name} removed (log: {log_path}); {keeps}", rolled_back=True) from None
    except BaseException:  # interrupted, or the engine failed meanwhile: no new container stays behind
        remove(container, log_path)
        raise
    state = {"container": container.id, "name": container.name, "image": cfg.image, "engine": engine.kind,
             "port": port, "url": url, "model": model.pinned, "requested": model.uri, "started": time.time(),
             "ready_seconds": round(ready, 3), "first_request_seconds": round(smoke.seconds, 4)}
    write_json(state_file(directory, cfg.name), state)
    if recorded:  # running (the previous version) or not (it exited since): either way ours, and replaced
        log.info("stopping previous container %s (%s)", recorded.get("name"), recorded.get("model"))
        previous = _container(engine, str(recorded.get("container", "")))
        if previous is not None and previous.labels.get(LABEL_DEPLOYMENT) == cfg.name:
            remove(previous, directory / f"{PREFIX}-{cfg.name}-{recorded.get('port')}.log")
    if registry is not None and model.in_registry:
        registry.promote(model.name, model.version, "production")
        registry.mark(model.name, model.version, "deployed", detail=f"container {url}")
    return DeployResult(
        target="container", name=cfg.name, namespace=PREFIX, model=model.uri, pinned_model=model.pinned,
        image=cfg.image, status="deployed", seconds=round(time.monotonic() - start, 3), endpoint=url,
        smoke=smoke.to_dict(), config=cfg.to_dict(), state_dir=str(directory.resolve()), container=container.id,
        ready_seconds=round(ready, 3),
    )


def stop_container(directory: Path, name: str) -> dict[str, Any] | None:
    """Stop and remove the recorded container of ``name`` and forget it; returns it if it was running (else None).

    A recorded container that exited meanwhile is removed as well: it was ours.
    """
    state = _recorded(directory, name)
    if state is None:
        return None
    with connect() as engine:
        found = _container(engine, str(state.get("container", "")))
        ours = found is not None and found.labels.get(LABEL_DEPLOYMENT) == name
        running = ours and found.status == "running"
        if ours:
            remove(found, directory / f"{PREFIX}-{name}-{state.get('port')}.log")
    state_file(directory, name).unlink(missing_ok=True)
    return state if running else None


def stop_command(directory: Path, name: str) -> dict[str, Any]:
    """``deploy --target container --stop``: stop ``name`` or say, naming the folder searched, that none runs."""
    stopped = stop_container(directory, name)
    if stopped is None:
        raise UserError(f"no container deployment {name!r} is running from {directory.resolve()} (no running "
                        f"container recorded in {state_file(directory, name).name}); give --state-dir the folder "
                        "it was deployed from")
    return stopped
