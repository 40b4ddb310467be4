"""One-line ``UserError``s for a KFP API that cannot be reached, refuses us, or answers an error.

``kfp.Client`` lets urllib3 and ``kfp_server_api.ApiException`` escape with the whole request and
response in a 100-line traceback; a person needs the host, what failed and what to try.
"""

from __future__ import annotations

import json
import socket
import ssl
from collections.abc import Iterator

from personseg.errors import UserError

MAX_MESSAGE = 300


def one_line(text: str, limit: int = MAX_MESSAGE) -> str:
    """Whitespace collapsed, cut to ``limit`` characters: a server's message may span lines."""
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def server_message(body: bytes | str | None) -> str:
    """The message in a KFP error body (grpc-gateway ``message``, upload server ``error_message``)."""
    if isinstance(body, bytes):
        body = body.decode("utf-8", "replace")
    body = body or ""
    try:
        data = json.loads(body)
    except ValueError:
        return one_line(body) or "(empty body)"
    if isinstance(data, dict):
        for key in ("message", "error_message", "error"):
            if data.get(key):
                return one_line(data[key])
    return one_line(body)


def _chain(exc: BaseException | None) -> Iterator[BaseException]:
    seen: set[int] = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        yield exc
        reason = getattr(exc, "reason", None)
        exc = reason if isinstance(reason, BaseException) else (exc.__cause__ or exc.__context__)


def unreachable_reason(exc: BaseException, timeout: float) -> str:
    """Connection refused, name not resolved, timed out, TLS: the cause a person can act on."""
    chain = list(_chain(exc))
    for err in chain:
        if isinstance(err, ConnectionRefusedError):
            return "connection refused"
        if isinstance(err, socket.gaierror) or type(err).__name__ == "NameResolutionError":
            return "host name not resolved (DNS)"
        if isinstance(err, (TimeoutError, socket.timeout)) or "Timeout" in type(err).__name__:
            return f"no answer within {timeout:g} s (timeout)"
        if isinstance(err, ssl.SSLError):
            return f"TLS failed ({one_line(err, 120)}); pass --ssl-ca-cert for a private CA"
    last = chain[-1]
    return one_line(f"{type(last).__name__}: {last}", 160)


def unreachable(host: str, exc: BaseException, timeout: float) -> UserError:
    """The host did not answer HTTP at all."""
    return UserError(f"--host {host}: cannot reach the KFP API: {unreachable_reason(exc, timeout)}")


def http_failure(host: str, status: int, body: bytes | str | None, token_env: str, token_set: bool) -> UserError:
    """A status the KFP API (or the proxy in front of it) answered, with a hint where one helps."""
    if status == 401:
        hint = (f"the bearer token in ${token_env} was not accepted (expired?)" if token_set
                else f"no bearer token was sent: put one in ${token_env} or name another variable with --token-env")
        return UserError(f"--host {host}: 401 Unauthorized: {hint}")
    if status == 403:
        hint = (f"the identity of the token in ${token_env} may not do this (check --namespace and the "
                "profile's contributors)" if token_set
                else f"no bearer token was sent: put one in ${token_env} or name another variable with --token-env")
        return UserError(f"--host {host}: 403 Forbidden: {hint}")
    return UserError(f"--host {host}: the KFP API answered HTTP {status}: {server_message(body)}")


def translate(host: str, exc: BaseException, token_env: str, token_set: bool, timeout: float) -> UserError | None:
    """A ``UserError`` for what ``kfp.Client`` raises on a failed call, or None for anything else."""
    from kfp_server_api.exceptions import ApiException
    from urllib3.exceptions import HTTPError

    if isinstance(exc, ApiException):
        if not exc.status:  # kfp_server_api wraps TLS failures as status 0
            return unreachable(host, exc, timeout)
        return http_failure(host, exc.status, exc.body, token_env, token_set)
    if isinstance(exc, (HTTPError, ConnectionError, TimeoutError, socket.gaierror, ssl.SSLError)):
        return unreachable(host, exc, timeout)
    return None
