"""Where each OpenVINO model's batch goes: per node type, and every float kernel, reorder and requantization.

Compiles each model as serving does (threads pinned, f32 inference precision) with the performance counters
on, runs a batch of random images and prints, per model, the per-node-type table (count, ms, share, the
kernels OpenVINO picked) and the slow spots; with ``--peak``, the INT8 ceilings to hold it against: ONNX
Runtime's GEMM peak (the peers table's) and OpenVINO's own INT8 convolution, large and at a width-32
U-Net's full-resolution shape. Run:
``.venv/bin/python benchmarks/openvino_profile.py ours=runs/lean4-int8-openvino nncf=runs/nncf.xml --size 256``.
"""

from __future__ import annotations

import argparse
import datetime
import json
import shlex
import sys
from pathlib import Path

import numpy as np


def _model_path(spec: str) -> tuple[str, Path]:
    name, _, path = spec.rpartition("=")
    p = Path(path)
    if p.is_dir():  # a saved model: its weights file
        config = json.loads((p / "config.json").read_text())
        p = p / config["weights"]
    return name or p.stem, p


def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("models", nargs="+", help="name=path: an OpenVINO IR (.xml), an ONNX file or a saved model")
    p.add_argument("--size", type=int, default=256)
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--threads", type=int, default=0, help="default: PERSONSEG_THREADS or the CPU quota")
    p.add_argument("--runs", type=int, default=10, help="inferences averaged per model")
    p.add_argument("--peak", action="store_true", help="also measure the INT8 ceilings")
    p.add_argument("--out", help="write the figures here as JSON")
    args = p.parse_args(argv)

    from personseg.bench.openvino_profile import conv_peak, slow_spots, type_table
    from personseg.cpuinfo import cpu_info
    from personseg.cpuquota import default_threads
    from personseg.quantize.openvino_graph import profile
    from personseg.runtime.openvino import compile_openvino

    threads = args.threads or default_threads()
    batch = np.random.default_rng(0).random((args.batch, 3, args.size, args.size), dtype=np.float32)
    cpu = cpu_info().summary()
    command = shlex.join(["benchmarks/openvino_profile.py", *(sys.argv[1:] if argv is None else argv)])
    result: dict = {"cpu": cpu, "threads": threads, "batch": args.batch, "size": args.size, "models": {},
                    "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
                    "command": command}
    print(f"{cpu['model']} ({', '.join(cpu['flags'])}), {threads} threads, batch {args.batch}, "
          f"{args.size}x{args.size}, mean of {args.runs} runs")
    for spec in args.models:
        name, path = _model_path(spec)
        prof = profile(compile_openvino(path, threads, args.size, profile=True), batch, args.runs)
        result["models"][name] = {"path": str(path), **prof.summary()}
        print(f"\n## {name} ({path}): {prof.total_ms:.1f} ms per batch in its kernels\n")
        print(type_table(prof))
        print()
        print(slow_spots(prof))
    if args.peak:
        from personseg.evaluate.peak import measure_peaks

        mlas = measure_peaks(threads)
        result["peak"] = {"mlas_int8_gops": mlas["int8_gops"], "openvino_conv_int8_gops": conv_peak(threads),
                          "openvino_conv_w32_full_res_gops": conv_peak(threads, channels=32, size=args.size)}
        print("\nINT8 ceilings (GOP/s): " + ", ".join(f"{k} {v:.0f}" for k, v in result["peak"].items()))
    if args.out:
        Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
    return result


if __name__ == "__main__":
    main()
