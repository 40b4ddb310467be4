"""`personseg serve`: serve a saved model over HTTP (Open Inference Protocol v2 and /v1/segment).

Every flag can also come from the environment (the container sets them there); a flag wins over
its variable. Heavy imports (FastAPI, uvicorn, the runtime) happen inside the handler.
"""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    """Add the `serve` command."""
    p = sub.add_parser("serve", help="serve a model over HTTP", description=__doc__.splitlines()[0])
    p.add_argument("--model", dest="model_uri", metavar="URI",
                   help="saved-model dir, s3:// prefix or models:/ ref (env PERSONSEG_MODEL_URI)")
    p.add_argument("--host", help="interface to bind (env PERSONSEG_HOST; default 127.0.0.1)")
    p.add_argument("--port", type=int, help="TCP port (env PORT; default 8080)")
    p.add_argument("--name", help="model name in /v2/models/<name> (env PERSONSEG_MODEL_NAME; default personseg)")
    p.add_argument("--max-batch", type=int, help="most images per inference call (env PERSONSEG_MAX_BATCH; default 8)")
    p.add_argument("--batch-wait-ms", type=float,
                   help="how long a batch waits for images still being decoded; a lone image does not wait "
                   "(env PERSONSEG_BATCH_WAIT_MS; default 5)")
    p.add_argument("--max-pixels", type=int, help="largest image, width x height (env PERSONSEG_MAX_PIXELS)")
    p.add_argument("--max-bytes", type=int, help="largest encoded image in bytes (env PERSONSEG_MAX_BYTES)")
    p.add_argument("--threads", type=int,
                   help="inference threads (env PERSONSEG_THREADS; default: this process's CPU quota)")
    p.add_argument("--runtime", choices=("onnxruntime", "openvino", "torch"),
                   help="run the model with this runtime instead of the one its card names (env PERSONSEG_RUNTIME); "
                        "an ONNX model runs on onnxruntime or openvino")
    p.add_argument("--http", choices=("auto", "httptools", "h11"),
                   help="HTTP parser: httptools when installed, else h11 (env PERSONSEG_HTTP; default auto)")
    p.set_defaults(func=handler)


def handler(args: argparse.Namespace) -> int:
    """Resolve settings (defaults < environment < flags) and serve until stopped."""
    from personseg.serving.server import serve
    from personseg.serving.settings import settings_from_env

    settings = settings_from_env().with_overrides(
        model_uri=args.model_uri, host=args.host, port=args.port, name=args.name, max_batch=args.max_batch,
        batch_wait_ms=args.batch_wait_ms, max_pixels=args.max_pixels, max_bytes=args.max_bytes,
        threads=args.threads, runtime=args.runtime, http=args.http,
    )
    return serve(settings)
