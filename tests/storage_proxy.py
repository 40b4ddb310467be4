"""A stand-in for an S3 server that ignores ``If-None-Match``: a proxy on 127.0.0.1 in front of ``weed mini``.

The MinIO that older Kubeflow releases ship predates conditional writes: it performs a PUT that
carries ``If-None-Match: *`` as a plain PUT and overwrites an existing object. To reproduce that,
the proxy cannot simply drop the header: minio-py signs every request header but ``Authorization``
and ``User-Agent`` (``minio/signer.py``, ``_get_canonical_headers``), so ``if-none-match`` is in
``SignedHeaders`` and weed would answer ``SignatureDoesNotMatch`` to the stripped request.
Emulating the condition in the proxy (HEAD, then PUT) would test the proxy's race, not the server's.

So the proxy holds the server's keys (it is a test fixture, like the server itself) and, for a PUT
that carries ``If-None-Match``, first checks the client's signature over the request as sent (a
wrong one is forwarded untouched, so weed refuses it as it would), then removes the header and
signs the request again with the same date, region and payload hash. weed then performs exactly
what a non-honouring server performs: an atomic, unconditional PUT. Every other request, and every
other header and body byte, is forwarded as received; responses come back as weed sent them (a
chunked body is re-sent with a Content-Length).

What a real old MinIO does that this stand-in does not show: everything else here is weed's
(listing order, error codes, LastModified resolution, consistency). The fallback claim relies on
list-after-write consistency, which MinIO documents and ``test_listing_sees_writes_and_deletes_at_once``
checks on weed separately; no stand-in can show that a given deployment (say MinIO in gateway mode
over an eventually consistent store) has it.
"""

from __future__ import annotations

import hashlib
import hmac
import http.client
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from personseg.storage.config import S3Config
from personseg.storage.weed import LocalS3

_AUTH_RE = re.compile(r"AWS4-HMAC-SHA256 Credential=([^/]+)/([^,]+), SignedHeaders=([^,]+), Signature=([0-9a-f]+)")
SKIP_RESPONSE = {"transfer-encoding", "connection", "keep-alive", "content-length"}


def _hmac(key: bytes, text: str) -> bytes:
    return hmac.new(key, text.encode(), hashlib.sha256).digest()


def sigv4(secret: str, method: str, path: str, headers: list[tuple[str, str]], signed: list[str], scope: str) -> str:
    """The SigV4 signature of a request over the ``signed`` header names (lowercase) in ``scope``."""
    target, _, query = path.partition("?")
    values: dict[str, list[str]] = {}
    for key, value in headers:
        values.setdefault(key.lower(), []).append(" ".join(value.split()))
    canonical_headers = "".join(f"{name}:{','.join(values.get(name, []))}\n" for name in signed)
    canonical_query = "&".join(sorted(p if "=" in p else p + "=" for p in query.split("&") if p))
    payload = values.get("x-amz-content-sha256", ["UNSIGNED-PAYLOAD"])[0]
    request = "\n".join([method, target, canonical_query, canonical_headers, ";".join(signed), payload])
    date = values["x-amz-date"][0]
    to_sign = "\n".join(["AWS4-HMAC-SHA256", date, scope, hashlib.sha256(request.encode()).hexdigest()])
    key = ("AWS4" + secret).encode()
    for part in scope.split("/"):
        key = _hmac(key, part)
    return hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()


class IgnoringProxy:
    """The proxy server; ``stripped`` counts the conditional PUTs it turned into plain ones."""

    def __init__(self, backend: LocalS3) -> None:
        self.backend = backend
        self.stripped = 0
        self.lock = threading.Lock()
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @property
    def endpoint(self) -> str:
        """``http://127.0.0.1:PORT`` of the proxy."""
        return f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def config(self) -> S3Config:
        """An ``S3Config`` that reaches weed through the proxy."""
        return S3Config(self.endpoint.split("://", 1)[1], self.backend.access_key, self.backend.secret_key, False)

    def env(self) -> dict[str, str]:
        """The environment variables that point personseg at the proxy."""
        return {**self.backend.env(), "MINIO_ENDPOINT": self.endpoint}

    def rewrite(self, method: str, path: str, headers: list[tuple[str, str]]) -> list[tuple[str, str]]:
        """Drop ``If-None-Match`` from a correctly signed PUT and sign it again; leave anything else alone."""
        if method != "PUT" or not any(k.lower() == "if-none-match" for k, _ in headers):
            return headers
        auth = next((v for k, v in headers if k.lower() == "authorization"), "")
        found = _AUTH_RE.fullmatch(auth.strip())
        if not found or found.group(1) != self.backend.access_key:
            return headers
        access, scope, signed, signature = found.groups()
        names = signed.split(";")
        if sigv4(self.backend.secret_key, method, path, headers, names, scope) != signature:
            return headers  # a bad signature stays bad: weed refuses it as it would without the proxy
        kept = [(k, v) for k, v in headers if k.lower() not in ("if-none-match", "authorization")]
        names = [n for n in names if n != "if-none-match"]
        new = sigv4(self.backend.secret_key, method, path, kept, names, scope)
        with self.lock:
            self.stripped += 1
        auth = f"AWS4-HMAC-SHA256 Credential={access}/{scope}, SignedHeaders={';'.join(names)}, Signature={new}"
        return [*kept, ("Authorization", auth)]

    def start(self) -> IgnoringProxy:
        """Serve in a daemon thread."""
        self.thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and close the socket."""
        self.httpd.shutdown()
        self.httpd.server_close()


def _handler(proxy: IgnoringProxy) -> type[BaseHTTPRequestHandler]:
    backend_port = proxy.backend.s3_port

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - the base class's name
            pass

        def forward(self) -> None:
            if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
                self.send_error(501, "the proxy takes only Content-Length request bodies")
                return
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else None
            headers = proxy.rewrite(self.command, self.path, list(self.headers.items()))
            conn = http.client.HTTPConnection("127.0.0.1", backend_port, timeout=60)
            try:
                conn.putrequest(self.command, self.path, skip_host=True, skip_accept_encoding=True)
                for key, value in headers:
                    conn.putheader(key, value)
                conn.endheaders(body)
                resp = conn.getresponse()
                data = resp.read()
                self.send_response_only(resp.status, resp.reason)
                for key, value in resp.getheaders():
                    if key.lower() not in SKIP_RESPONSE:
                        self.send_header(key, value)
                if self.command == "HEAD":
                    self.send_header("Content-Length", resp.getheader("Content-Length", "0"))
                else:
                    self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(data)
            finally:
                conn.close()

        do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = forward

    return Handler


@contextmanager
def ignoring_proxy(backend: LocalS3) -> Iterator[IgnoringProxy]:
    """A running proxy in front of ``backend`` for the block."""
    proxy = IgnoringProxy(backend).start()
    try:
        yield proxy
    finally:
        proxy.stop()


@pytest.fixture(scope="module")
def s3_proxy(s3_server: LocalS3) -> Iterator[IgnoringProxy]:
    """One proxy per test module, in front of that module's ``weed mini``."""
    with ignoring_proxy(s3_server) as proxy:
        yield proxy


@pytest.fixture
def proxy_env(s3_env: LocalS3, s3_proxy: IgnoringProxy, monkeypatch: pytest.MonkeyPatch) -> IgnoringProxy:
    """``s3_env``, but the endpoint is the proxy: personseg sees a server that ignores If-None-Match."""
    monkeypatch.setenv("MINIO_ENDPOINT", s3_proxy.endpoint)
    return s3_proxy
