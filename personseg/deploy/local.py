"""The local target: the model server as a process on 127.0.0.1, replaced only by a healthy successor.

State lives in ``<state_dir>/local-<name>.json`` (pid, port, model, log). A redeploy starts the new
version on a fresh port, waits for readiness, smoke-tests it, and only then records it and stops the
old process; if the new version fails, it is stopped and the old one keeps serving (the rollback).
This is what the local pipeline run and the demo use instead of a cluster.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from personseg.atomic import write_json
from personseg.deploy.config import DeployConfig
from personseg.deploy.outcome import DeployBusy, DeployFailed, DeployResult
from personseg.deploy.pinned_model import DeployRegistry, PinnedModel
from personseg.deploy.smoke import SmokeFailed, run_smoke
from personseg.errors import UserError
from personseg.netutil import free_port

log = logging.getLogger(__name__)
DEFAULT_STATE_DIR = Path("runs/deploy")
STATE_DIR_ENV = "PERSONSEG_DEPLOY_STATE"


def state_dir(path: str | Path | None = None) -> Path:
    """Where local deployments are recorded: the argument, ``PERSONSEG_DEPLOY_STATE``, else runs/deploy."""
    return Path(path or os.environ.get(STATE_DIR_ENV) or DEFAULT_STATE_DIR)


def state_file(directory: Path, name: str) -> Path:
    """The state file of deployment ``name``."""
    return directory / f"local-{name}.json"


def read_state(directory: Path, name: str) -> dict[str, Any] | None:
    """The recorded deployment, or None; a record whose process is gone counts as none."""
    path = state_file(directory, name)
    if not path.is_file():
        return None
    try:
        state = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise UserError(f"{path}: not valid JSON ({exc}); delete it to start afresh") from None
    return state if is_our_server(int(state.get("pid", 0)), int(state.get("port", 0))) else None


def is_our_server(pid: int, port: int) -> bool:
    """True when ``pid`` is alive and is a personseg server on ``port`` (pids get reused)."""
    try:
        cmd = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return False
    return b"personseg" in cmd and b"serve" in cmd and str(port).encode() in cmd


def http_post(url: str, body: bytes, content_type: str, timeout: float = 30.0) -> tuple[int, str, bytes]:
    """POST and return (status, content type, body) without raising on 4xx/5xx."""
    req = urllib.request.Request(url, data=body, method="POST", headers={"Content-Type": content_type})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return resp.status, resp.headers.get("Content-Type", ""), resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.headers.get("Content-Type", ""), exc.read()
    except (urllib.error.URLError, OSError) as exc:
        return 0, "", str(exc).encode()


def wait_ready(url: str, proc: subprocess.Popen, log_path: Path, timeout: float) -> float:
    """Poll ``/v2/health/ready`` until 200; fail early if the process exits. Returns seconds waited."""
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        if proc.poll() is not None:
            raise DeployFailed(f"server exited with code {proc.returncode} before becoming ready; "
                               f"last log lines:\n{tail(log_path)}", rolled_back=False)
        try:
            with urllib.request.urlopen(f"{url}/v2/health/ready", timeout=2) as resp:
                if resp.status == 200:
                    return time.monotonic() - start
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.2)
    raise DeployFailed(f"server not ready after {timeout:g}s; last log lines:\n{tail(log_path)}", rolled_back=False)


def tail(path: Path, lines: int = 15) -> str:
    """The last lines of a log file (for error messages)."""
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def stop_process(pid: int, grace: float = 10.0) -> None:
    """SIGTERM the server's process group (graceful shutdown), SIGKILL it after ``grace`` seconds."""
    def gone() -> bool:
        try:
            done, _ = os.waitpid(pid, os.WNOHANG)
            if done == pid:
                return True
        except ChildProcessError:
            pass
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        try:
            return Path(f"/proc/{pid}/stat").read_text().split(") ")[-1].startswith("Z")
        except OSError:
            return True

    for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, 5.0)):
        try:
            os.killpg(pid, sig)
        except ProcessLookupError:
            return
        end = time.monotonic() + wait
        while time.monotonic() < end:
            if gone():
                return
            time.sleep(0.05)


def start_server(model_uri: str, port: int, log_path: Path, threads: int | None,
                 card_sha256: str = "") -> subprocess.Popen:
    """``python -m personseg serve`` in its own session, so it outlives the deploy command."""
    env = dict(os.environ)
    if threads:
        env["PERSONSEG_THREADS"] = str(threads)
    if card_sha256:
        env["PERSONSEG_CARD_SHA256"] = card_sha256
    cmd = [sys.executable, "-m", "personseg", "serve", "--model", model_uri, "--host", "127.0.0.1", "--port", str(port)]
    with open(log_path, "ab") as out:
        return subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                env=env, start_new_session=True)


@contextlib.contextmanager
def exclusive(directory: Path, name: str, target: str = "local") -> Iterator[None]:
    """Hold ``<target>-<name>.lock`` for a deploy: a second deploy of the name meanwhile is refused.

    The kernel drops a ``flock`` when its holder exits, so a killed deploy leaves no stale lock.
    """
    lock = directory / f"{target}-{name}.lock"
    fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o666)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise DeployBusy(f"another {target} deploy of '{name}' is running (lock {lock}); "
                             "retry when it ends") from None
        yield
    finally:
        os.close(fd)


def deploy_local(
    cfg: DeployConfig,
    model: PinnedModel,
    registry: DeployRegistry | None,
    directory: Path,
    expected: np.ndarray,
    threads: int | None = None,
) -> DeployResult:
    """Start the new version beside the old one, switch only if it is ready and passes the smoke test.

    ``expected`` is the probe's mask (``personseg.deploy.expected_mask``) the new server must answer.
    """
    directory.mkdir(parents=True, exist_ok=True)
    with exclusive(directory, cfg.name):
        return _deploy_local(cfg, model, registry, directory, expected, threads)


def _deploy_local(
    cfg: DeployConfig, model: PinnedModel, registry: DeployRegistry | None, directory: Path, expected: np.ndarray,
    threads: int | None,
) -> DeployResult:
    start = time.monotonic()
    old = read_state(directory, cfg.name)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log_path = directory / f"local-{cfg.name}-{port}.log"
    proc = start_server(model.pinned, port, log_path, threads, cfg.card_sha256)
    try:
        ready = wait_ready(url, proc, log_path, cfg.timeout)
        smoke = run_smoke(lambda path, body, ctype: http_post(url + path, body, ctype), expected)
    except (DeployFailed, SmokeFailed) as exc:
        stop_process(proc.pid)
        keeps = (f"previous deployment keeps serving {old['model']} at {old['url']} (pid {old['pid']})"
                 if old else "no previous deployment was running")
        if registry is not None and model.in_registry:
            registry.mark(model.name, model.version, "rolled-back", detail=str(exc)[:2000])
        raise DeployFailed(f"local deploy of {model.pinned} failed: {exc}\nrollback: new server stopped; {keeps}",
                           rolled_back=True) from None
    state = {"pid": proc.pid, "port": port, "url": url, "model": model.pinned, "requested": model.uri,
             "log": str(log_path), "started": time.time(), "ready_seconds": round(ready, 3)}
    write_json(state_file(directory, cfg.name), state)
    if old:
        log.info("stopping previous server pid %s (%s)", old["pid"], old["model"])
        stop_process(int(old["pid"]))
    if registry is not None and model.in_registry:
        registry.promote(model.name, model.version, "production")
        registry.mark(model.name, model.version, "deployed", detail=f"local {url}")
    return DeployResult(
        target="local", name=cfg.name, namespace="local", model=model.uri, pinned_model=model.pinned,
        image="", status="deployed", seconds=round(time.monotonic() - start, 3), endpoint=url,
        smoke=smoke.to_dict(), config=cfg.to_dict(), pid=proc.pid, state_dir=str(directory.resolve()),
    )


def stop_local(directory: Path, name: str) -> dict[str, Any] | None:
    """Stop the recorded local deployment ``name`` and forget it; returns what was stopped (None: nothing ran)."""
    state = read_state(directory, name)
    if state:
        stop_process(int(state["pid"]))
    state_file(directory, name).unlink(missing_ok=True)
    return state


def stop_command(directory: Path, name: str) -> dict[str, Any]:
    """``deploy --target local --stop``: stop ``name`` or say, naming the folder searched, that none runs there."""
    stopped = stop_local(directory, name)
    if stopped is None:
        raise UserError(f"no local deployment {name!r} is running from {directory.resolve()} (no live server recorded "
                        f"in {state_file(directory, name).name}); give --state-dir the folder it was deployed from")
    return stopped
