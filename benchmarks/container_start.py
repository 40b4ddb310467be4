"""Cold start and first request of the serving container (``personseg deploy --target container``).

Starts a local S3 server, publishes ``--model`` (a saved ONNX or OpenVINO model) to its registry, then
deploys it ``--rounds`` times with the container target on this machine's engine (Docker, else podman) and
stops it again. Prints, per round and as medians: start to ready (from the engine's ``run``, creating and
starting the container, until ``/v2/health/ready``: the model is pulled from S3, loaded and warmed up),
the first request (the smoke test's probe, 160x240) and a second one, and the serving image's size. The
image must be built first (``make images``); ``PERSONSEG_PODMAN_OPTS`` names another podman image store.
Run: `PYTHONPATH=. .venv/bin/python benchmarks/container_start.py --model DIR [--rounds 5]`.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from personseg.containers.engine import connect
from personseg.cpuinfo import cpu_info
from personseg.deploy.config import DeployConfig
from personseg.deploy.container import stop_container
from personseg.deploy.local import http_post
from personseg.deploy.smoke import SEGMENT_PATH
from personseg.deploy.step import run
from personseg.image_refs import serving_image
from personseg.serving.smoke_probe import card_entry, person_image
from personseg.storage.registry import Registry
from personseg.storage.weed import local_s3


def main() -> None:
    """Deploy, measure, stop, ``--rounds`` times; print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, required=True, help="saved-model folder to publish and serve")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--image", default=serving_image())
    args = parser.parse_args()

    with connect() as engine:
        size, kind = engine.client.images.get(args.image).attrs["Size"], engine.kind
    print(f"cpu: {cpu_info().summary()}; engine {kind}; image {args.image} {size / 1e6:.0f} MB")
    rows = []
    with tempfile.TemporaryDirectory(prefix="container-start-") as tmp, local_s3(Path(tmp) / "s3", set_env=True):
        registry = Registry.from_env()
        version = registry.publish(args.model, "bench-start", smoke=card_entry(args.model))
        state = Path(tmp) / "state"
        for _ in range(args.rounds):
            cfg = DeployConfig(model=f"models:/bench-start:{version}", target="container", name="bench-start",
                               image=args.image, timeout=300)
            result = run(cfg, state_dir=state)
            start = time.perf_counter()
            status, _, _ = http_post(result.endpoint + SEGMENT_PATH, person_image(), "image/png")
            second = time.perf_counter() - start
            assert status == 200, f"second request answered {status}"
            stop_container(state, "bench-start")
            rows.append((result.ready_seconds or 0.0, result.smoke["seconds"], second))
            print(f"start to ready {rows[-1][0]:.2f} s, first request {rows[-1][1] * 1000:.0f} ms, "
                  f"second {second * 1000:.0f} ms")
    ready, first, second = (statistics.median(column) for column in zip(*rows))
    print(f"median of {len(rows)}: start to ready {ready:.2f} s, first request {first * 1000:.0f} ms, "
          f"second request {second * 1000:.0f} ms; serving image {size / 1e6:.0f} MB")


if __name__ == "__main__":
    main()
