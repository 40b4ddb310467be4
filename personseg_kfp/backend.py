"""Before any call: is ``--host`` a reachable, authorized KFP v2 API, and is its backend new enough?

One GET of ``/apis/v2beta1/healthz`` answers all four, in a few seconds and with a timeout, before
``kfp.Client`` (which retries a failing healthz five times, 5 s apart, logging each traceback).

The compiled pipeline names its S3 Secret through a pipeline parameter (``secretNameParameter`` in
the kubernetes platform spec). KFP backends before 2.5.0 (kubeflow/pipelines#11770, in the 2.5.0
changelog) do not know that field: the driver drops it and the step's pod asks for a Secret with
no name, so the run fails at its first S3 step, long after submit said yes. The ``optional`` field
next to it came in 2.15.0 (#12216); older drivers ignore unknown fields and ``false`` is what they
do anyway, so it does not raise the minimum.

The supported range, stated in docs/kubeflow.md, is ``MIN_KFP_BACKEND`` to the ``NEWEST_KFP_BACKEND``
minor line (every patch release of it): the releases whose driver source this pipeline was read
against. An older backend is refused; a newer one is accepted with a warning, because nothing is
known to break there and refusing would block a platform upgrade.
"""

from __future__ import annotations

import json
import logging
import re
import ssl
import urllib.error
import urllib.request

from personseg.errors import UserError
from personseg_kfp.kfp_errors import http_failure, one_line, unreachable

log = logging.getLogger(__name__)

MIN_KFP_BACKEND = "2.5.0"
NEWEST_KFP_BACKEND = "2.17"  # major.minor: the newest line read; its patch releases are supported too
NEEDED_FOR = "the S3 Secret's name as a pipeline parameter (secretNameParameter)"
HEALTHZ = "/apis/v2beta1/healthz"
_VERSION = re.compile(r"^v?(\d+)\.(\d+)\.(\d+)")


def parse_version(tag: object) -> tuple[int, int, int] | None:
    """``(2, 5, 0)`` from a release tag such as ``2.5.0`` or ``v2.5.0-rc.1``; None for ``unknown``, ``master-...``."""
    match = _VERSION.match(tag) if isinstance(tag, str) else None
    return tuple(int(g) for g in match.groups()) if match else None  # type: ignore[return-value]


def require_backend(host: str, tag: object, minimum: str = MIN_KFP_BACKEND) -> None:
    """Refuse a backend older than ``minimum``; warn and go on when it is newer than the range or says no version."""
    have, need = parse_version(tag), parse_version(minimum)
    if have is None:
        log.warning("KFP backend at %s reports no release version (tag_name %r); cannot check it is %s or newer, "
                    "which this pipeline needs for %s; proceeding", host, tag, minimum, NEEDED_FOR)
        return
    if have < need:
        raise UserError(f"KFP backend {tag} at {host} is older than {minimum}, which this pipeline needs for "
                        f"{NEEDED_FOR}; upgrade Kubeflow Pipelines, or run it here with "
                        "`personseg pipeline run --local`")
    newest = tuple(int(p) for p in NEWEST_KFP_BACKEND.split("."))
    if have[:2] > newest:
        log.warning("KFP backend %s at %s is newer than %s.x, the newest release this pipeline was checked "
                    "against (supported: %s to %s.x); proceeding", tag, host, NEWEST_KFP_BACKEND, minimum,
                    NEWEST_KFP_BACKEND)


def healthz(host: str, token: str | None, token_env: str, ssl_ca_cert: str | None = None,
            timeout: float = 10.0) -> dict:
    """The healthz JSON of the KFP v2 API at ``host``; every failure is one ``UserError`` naming the host."""
    url = host.rstrip("/") + HEALTHZ
    request = urllib.request.Request(url, headers={"Accept": "application/json"})
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        context = ssl.create_default_context(cafile=ssl_ca_cert) if url.startswith("https://") else None
    except (OSError, ssl.SSLError) as exc:
        raise UserError(f"--ssl-ca-cert {ssl_ca_cert}: not a readable CA bundle ({one_line(exc, 120)})") from None
    # no environment proxies: kfp.Client, which makes the real calls, does not use them either
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}), urllib.request.HTTPSHandler(context=context))
    try:
        with opener.open(request, timeout=timeout) as response:
            body, ctype = response.read(), response.headers.get("Content-Type", "")
    except urllib.error.HTTPError as exc:
        if exc.code == 404:
            raise UserError(f"--host {host}: {url} answered 404: not a KFP v2 API (check the path prefix, "
                            "e.g. https://KUBEFLOW/pipeline, or a port-forward to ml-pipeline-ui)") from None
        raise http_failure(host, exc.code, exc.read(), token_env, bool(token)) from None
    except (urllib.error.URLError, OSError) as exc:
        raise unreachable(host, exc, timeout) from None
    try:
        data = json.loads(body)
    except ValueError:
        data = None
    if not isinstance(data, dict):
        raise UserError(f"--host {host}: {url} did not answer KFP healthz JSON ({ctype or 'no content type'}: "
                        f"{one_line(body.decode('utf-8', 'replace'), 80)!r}); a login page wants a token "
                        f"(${token_env}), anything else means the URL is not the KFP API")
    return data


def check_backend(host: str, token: str | None, token_env: str, ssl_ca_cert: str | None = None,
                  timeout: float = 10.0) -> str | None:
    """Reachable, authorized, KFP v2, new enough; returns the backend's tag (None when it gives none)."""
    tag = healthz(host, token, token_env, ssl_ca_cert, timeout).get("tag_name")
    require_backend(host, tag)
    return tag
