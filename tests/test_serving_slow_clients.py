"""Slow and idle clients are cut off at the timeouts, and open connections are bounded (raw sockets).

Every guard is checked with both HTTP parsers the server can run: httptools (what the image runs) and h11
(where httptools is not installed).
"""

import select
import socket
import sys
import time

import httpx
import pytest
from serving_fixtures import make_tiny_model, running_server
from uvicorn.protocols.http.h11_impl import H11Protocol
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from personseg.errors import UserError
from personseg.serving.protocol import guarded
from personseg.serving.settings import ServeSettings

TIMEOUT = 1.0
LIMIT = 4.0  # a test gives up waiting after this; the old server never cut these clients off


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    return make_tiny_model(tmp_path_factory.mktemp("slow") / "tiny")


@pytest.fixture(scope="module", params=["httptools", "h11"])
def parser(request):
    return request.param


@pytest.fixture(scope="module")
def server(model, parser):
    settings = ServeSettings(model_uri=str(model), threads=1, header_timeout_s=TIMEOUT, body_timeout_s=TIMEOUT,
                             http=parser)
    with running_server(settings) as running:
        assert issubclass(running.server.config.http, {"httptools": HttpToolsProtocol, "h11": H11Protocol}[parser])
        yield running


def _connect(url: str) -> socket.socket:
    host, port = url.removeprefix("http://").split(":")
    sock = socket.create_connection((host, int(port)), timeout=LIMIT)
    return sock


def _closed_after(sock: socket.socket, trickle: bytes = b"") -> tuple[float, bytes]:
    """Seconds until the server closes ``sock`` (sending ``trickle`` a byte every 0.2 s meanwhile), and its reply."""
    start = time.monotonic()
    reply = b""
    while time.monotonic() - start < LIMIT:
        readable, _, _ = select.select([sock], [], [], 0.2)
        if readable:
            try:
                chunk = sock.recv(65536)
            except ConnectionResetError:
                chunk = b""
            if not chunk:
                return time.monotonic() - start, reply
            reply += chunk
        elif trickle:
            try:
                sock.sendall(trickle[:1])
            except (BrokenPipeError, ConnectionResetError):
                return time.monotonic() - start, reply
            trickle = trickle[1:]
    return float("inf"), reply


def test_a_connection_that_never_sends_is_closed(server):
    with _connect(server.url) as sock:
        seconds, reply = _closed_after(sock)
    assert TIMEOUT * 0.8 <= seconds <= TIMEOUT + 1.5 and reply == b""


def test_trickled_headers_are_cut_off_at_the_header_timeout(server):
    head = b"POST /v1/segment HTTP/1.1\r\nHost: x\r\n" + b"X-Slow: " + b"a" * 100 + b"\r\n\r\n"
    with _connect(server.url) as sock:
        seconds, _ = _closed_after(sock, trickle=head)
    assert seconds <= TIMEOUT + 1.5, "the server waited for headers sent a byte every 0.2 s"


def test_a_stalled_body_gets_408_at_the_body_timeout_and_the_connection_closes(server):
    with _connect(server.url) as sock:
        sock.sendall(b"POST /v1/segment HTTP/1.1\r\nHost: x\r\nContent-Length: 1000000\r\n\r\n" + bytes(100_000))
        seconds, reply = _closed_after(sock)
    assert seconds <= TIMEOUT + 1.5, "a stalled body held its connection (and memory)"
    assert reply.startswith(b"HTTP/1.1 408") and b"PERSONSEG_BODY_TIMEOUT_S" in reply, reply[:300]


def test_a_keep_alive_connection_still_serves_its_next_request_in_time(server):
    with httpx.Client(base_url=server.url, timeout=5) as client:
        for _ in range(3):
            assert client.get("/v2/health/live").status_code == 200
            time.sleep(TIMEOUT * 0.6)  # idle between requests for less than the header timeout


def test_oversized_headers_get_400_and_the_connection_closes(server):
    head = b"GET /v2/health/live HTTP/1.1\r\nHost: x\r\n" + b"".join(
        b"X-Pad-%d: %s\r\n" % (i, b"a" * 1000) for i in range(40))  # 40 KB of headers, never finished
    with _connect(server.url) as sock:
        sock.sendall(head)
        seconds, reply = _closed_after(sock)
    assert seconds < TIMEOUT, "a connection sending 40 KB of headers was kept until the header timeout"
    assert reply.startswith(b"HTTP/1.1 400"), reply[:200]


def test_connections_beyond_the_limit_are_closed_at_once(model, parser):
    settings = ServeSettings(model_uri=str(model), threads=1, max_connections=3, header_timeout_s=30, http=parser)
    with running_server(settings) as running:
        held = [_connect(running.url) for _ in range(3)]
        try:
            time.sleep(0.2)
            with _connect(running.url) as extra:
                seconds, reply = _closed_after(extra)
            assert seconds < 1.0 and reply == b"", "a connection over PERSONSEG_MAX_CONNECTIONS was kept"
            held.pop().close()
            time.sleep(0.2)
            with _connect(running.url) as sock:
                sock.sendall(b"GET /v2/health/live HTTP/1.1\r\nHost: x\r\n\r\n")
                assert sock.recv(4096).startswith(b"HTTP/1.1 200")
        finally:
            for sock in held:
                sock.close()


def test_accepted_connections_do_not_wait_for_nagle(server):
    """Every accepted TCP connection has TCP_NODELAY: a keep-alive answer's body is not held for the client's ACK.

    The server's listening socket comes from ``socket.create_server`` (proto 0), on which asyncio leaves Nagle on.
    """
    with httpx.Client(base_url=server.url, timeout=LIMIT) as client:
        assert client.get("/v2/health/live").status_code == 200
        connections = list(server.server.server_state.connections)
        assert connections
        for protocol in connections:
            sock = protocol.transport.get_extra_info("socket")
            assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) != 0


def test_without_httptools_the_server_runs_h11(model, monkeypatch):
    monkeypatch.setitem(sys.modules, "httptools", None)  # as if it were not installed: importing it fails
    with running_server(ServeSettings(model_uri=str(model), threads=1)) as running:
        assert issubclass(running.server.config.http, H11Protocol)
        assert httpx.get(f"{running.url}/v2/health/live", timeout=LIMIT).status_code == 200
    with pytest.raises(UserError, match="httptools package is not installed"):
        guarded(1.0, 1, "httptools")


def test_with_httptools_auto_runs_it(model):
    with running_server(ServeSettings(model_uri=str(model), threads=1)) as running:
        assert issubclass(running.server.config.http, HttpToolsProtocol)
