"""Run the app under uvicorn: graceful shutdown on SIGTERM, and exit when the model cannot load.

On SIGTERM uvicorn stops accepting connections, lets in-flight requests finish (up to
``shutdown_timeout_s``), then the app's shutdown drains the inference queue. A model that fails to
load stops the server with the error, so Kubernetes shows it rather than a replica stuck unready.
"""

from __future__ import annotations

import importlib.util
import logging
import signal
import socket
import warnings

import prometheus_client
import uvicorn
from PIL import Image

from personseg.errors import UserError
from personseg.modeldir import read_model_dir
from personseg.serving.app import create_app
from personseg.serving.protocol import guarded
from personseg.serving.settings import ServeSettings
from personseg.uris import is_remote, local_model

log = logging.getLogger(__name__)
KEEP_ALIVE_S = 5  # an idle keep-alive connection is closed after this (uvicorn's default, stated)


def build_server(settings: ServeSettings, **app_kwargs: object) -> uvicorn.Server:
    """A uvicorn server for ``settings`` (not started); ``app.state.service`` is the service."""
    app = create_app(settings, **app_kwargs)
    protocol = guarded(settings.header_timeout_s, settings.max_connections, settings.http)
    # loop "auto": uvloop when installed (about a fifth less event-loop CPU per request than asyncio's), else asyncio.
    config = uvicorn.Config(app, host=settings.host, port=settings.port, lifespan="on", access_log=False,
                            timeout_graceful_shutdown=settings.shutdown_timeout_s, log_config=None,
                            http=protocol, loop="auto", timeout_keep_alive=KEEP_ALIVE_S)
    log.info("HTTP: %s, event loop: %s", protocol.__name__, "uvloop" if _has("uvloop") else "asyncio")
    server = uvicorn.Server(config)

    def fatal(message: str) -> None:
        server.should_exit = True

    app.state.service.on_fatal = fatal
    return server


def _has(module: str) -> bool:
    return importlib.util.find_spec(module) is not None


def _listen(host: str, port: int, backlog: int) -> socket.socket:
    """A listening TCP socket on ``host:port`` (IPv6 when the host is), as uvicorn would bind it."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    try:
        return socket.create_server((host, port), family=family, backlog=backlog)
    except OSError as exc:
        raise UserError(f"cannot listen on {host}:{port}: {exc.strerror}") from None


def serve(settings: ServeSettings) -> int:
    """Serve until SIGTERM/SIGINT; return 0 after a clean shutdown, raise ``UserError`` if loading failed."""
    settings = settings.validated()
    if not is_remote(settings.model_uri):  # a folder that is not a model fails before the server starts
        read_model_dir(local_model(settings.model_uri))
    # Pillow only warns between 1x and 2x MAX_IMAGE_PIXELS; a server must refuse those images.
    warnings.simplefilter("error", Image.DecompressionBombWarning)
    prometheus_client.disable_created_metrics()  # the *_created series only add noise to scrapes
    log.info("personseg serve: %s", settings)
    server = build_server(settings)
    sockets = [_listen(settings.host, settings.port, server.config.backlog)]
    if settings.metrics_port:
        sockets.append(_listen(settings.host, settings.metrics_port, server.config.backlog))
        log.info("/metrics on port %d only", settings.metrics_port)
    # uvicorn re-raises the signal that stopped it once shutdown is complete; by then everything has
    # finished cleanly, so note SIGTERM instead of dying by it and exit 0.
    previous = signal.signal(signal.SIGTERM, lambda signum, frame: log.info("stopped by SIGTERM"))
    try:
        server.run(sockets=sockets)
    finally:
        signal.signal(signal.SIGTERM, previous)
    error = server.config.app.state.service.load_error
    if error:
        raise UserError(error)
    if not server.started:
        raise UserError(f"could not start the server on {settings.host}:{settings.port} (see the log above)")
    return 0
