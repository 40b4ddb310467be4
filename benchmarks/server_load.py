"""The model server under heavy load, on 127.0.0.1: peak RSS against the pod's memory limit, and the 503 share.

Two experiments, each against a fresh ``personseg serve`` child process (so its peak RSS, ``VmHWM``,
is its own):

- ``large``: ``--large-clients`` concurrent ``output=cutout`` requests, each a 36 MP JPEG (inside the
  default 40 MP / 20 MB limits), with ``PERSONSEG_MEMORY_LIMIT`` set to the Deployment's memory limit
  (``manifests/base``: 1536 Mi). The peak RSS must stay under it.
- ``small``: ``--small-clients`` concurrent small requests with ``PERSONSEG_MAX_QUEUE=8``: the share
  answered 503 at once instead of queueing, and the latency of those served.
- ``slow``: ``--slow-clients`` connections trickling header bytes every 5 s, then ``--stalled-clients``
  that send 15 MB of a declared 20 MB body and stall: how long the server keeps them (the header and
  body timeouts are 10 s and 60 s by default), and its peak RSS meanwhile.

Without ``--model`` the server runs a 1x1-convolution stand-in at 256 px (inference costs next to
nothing, so what is measured is HTTP, decoding and encoding). Run:
``.venv/bin/python benchmarks/server_load.py`` (about a minute on 2 cores).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import tempfile
from pathlib import Path

from personseg.bench.server_load import (
    MIB,
    POD_LIMIT,
    burst,
    peak_rss,
    photo,
    rss,
    server,
    slow,
    stand_in_model,
    summary,
)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", help="saved model directory (default: a 1x1-conv stand-in at 256 px)")
    p.add_argument("--memory-limit-mib", type=int, default=POD_LIMIT // MIB)
    p.add_argument("--large-clients", type=int, default=8)
    p.add_argument("--small-clients", type=int, default=300)
    p.add_argument("--small-queue", type=int, default=8, help="PERSONSEG_MAX_QUEUE for the small experiment")
    p.add_argument("--slow-clients", type=int, default=300)
    p.add_argument("--stalled-clients", type=int, default=40)
    p.add_argument("--slow-cap-s", type=float, default=90.0, help="stop waiting for the server to close after this")
    p.add_argument("--only", default="large,small,slow", help="comma-separated experiments to run")
    p.add_argument("--out", help="also write the figures to this JSON file")
    args = p.parse_args()
    limit = args.memory_limit_mib * MIB
    with tempfile.TemporaryDirectory() as tmp:
        model = Path(args.model) if args.model else stand_in_model(Path(tmp) / "stand-in")
        large, small = photo(7200, 5000), photo(640, 480)
        print(f"large: 7200x5000 JPEG, {len(large) / MIB:.1f} MiB; small: 640x480 JPEG, {len(small) // 1024} KiB",
              flush=True)
        figures = []
        only = set(args.only.split(","))
        if "large" in only:
            with server(model, {"PERSONSEG_MEMORY_LIMIT": str(limit)}) as (url, proc):
                before = rss(proc.pid)
                results = asyncio.run(burst(url, large, args.large_clients, "/v1/segment?output=cutout"))
                figures.append(summary(f"{args.large_clients} x 36 MP cutout", results, before, peak_rss(proc.pid),
                                       limit))
                print(json.dumps(figures[-1]), flush=True)
        if "small" in only:
            env = {"PERSONSEG_MEMORY_LIMIT": str(limit), "PERSONSEG_MAX_QUEUE": str(args.small_queue)}
            with server(model, env) as (url, proc):
                before = rss(proc.pid)
                results = asyncio.run(burst(url, small, args.small_clients, "/v1/segment"))
                figures.append(summary(f"{args.small_clients} x small, PERSONSEG_MAX_QUEUE={args.small_queue}",
                                       results, before, peak_rss(proc.pid), limit))
                print(json.dumps(figures[-1]), flush=True)
        if "slow" in only:
            with server(model, {"PERSONSEG_MEMORY_LIMIT": str(limit)}) as (url, proc):
                before = rss(proc.pid)
                held = asyncio.run(slow(url, args.slow_clients, args.stalled_clients, args.slow_cap_s))
                figures.append({"experiment": f"{args.slow_clients} trickling headers + {args.stalled_clients} "
                                "stalled bodies", **held, "rss_before_mib": round(before / MIB, 1),
                                "peak_rss_mib": round(peak_rss(proc.pid) / MIB, 1)})
                print(json.dumps(figures[-1]), flush=True)
    if args.out:
        Path(args.out).write_text(json.dumps(figures, indent=2) + "\n")


if __name__ == "__main__":
    main()
