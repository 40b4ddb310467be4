"""7-bit (``reduce_range``) or 8-bit INT8 weights on this CPU: agreement with FP32, test IoU and speed.

Quantizes one FP32 model twice, identically but for ``reduce_range``, then times both beside the FP32
ONNX model in one interleaved run (``personseg evaluate``) and prints agreement (INT8 masks vs FP32 ONNX
masks of the same network, test split), test IoU and median ms per batch. Trains a small seed on
synthetic images unless ``--model`` is given. Run:
``.venv/bin/python benchmarks/reduce_range.py --out runs/reduce-range``.
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from personseg.cpuinfo import cpu_info
from personseg.data.synthetic import write_synthetic
from personseg.evaluate.step import EvalConfig
from personseg.evaluate.step import run as evaluate
from personseg.quantize.onnx_backend import VNNI_FLAGS, reduce_range_for
from personseg.quantize.step import QuantizeConfig, export
from personseg.quantize.step import run as quantize
from personseg.training.step import TrainConfig
from personseg.training.step import run as train


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", default="runs/reduce-range")
    p.add_argument("--data", help="dataset (default: 160 synthetic images made under --out)")
    p.add_argument("--model", help="a trained FP32 model (skips training)")
    p.add_argument("--width", type=int, default=16)
    p.add_argument("--size", type=int, default=128)
    p.add_argument("--epochs", type=int, default=6)
    p.add_argument("--rounds", type=int, default=10)
    p.add_argument("--calibration", type=int, default=32)
    args = p.parse_args()
    logging.basicConfig(level=logging.WARNING)
    out = Path(args.out)
    data = args.data or str(write_synthetic(out / "data", count=160, size=args.size, seed=1))
    model = args.model
    if not model:
        model = str(out / "fp32")
        train(TrainConfig(data=data, width=args.width, size=args.size, epochs=args.epochs, lr=3e-3), model)
    export(model, out / "fp32-onnx")
    for bits, flag in (("7bit", True), ("8bit", False)):
        quantize(QuantizeConfig(model=model, data=data, calibration=args.calibration, tolerable_iou_loss=0.02,
                                max_trials=1, reduce_range=flag), out / f"int8-{bits}")
    result = evaluate(EvalConfig(models=(f"fp32-onnx={out / 'fp32-onnx'}", f"int8-7bit={out / 'int8-7bit'}",
                                         f"int8-8bit={out / 'int8-8bit'}"), data=data, rounds=args.rounds,
                                 measure_peak=False), out / "reduce_range.json")
    flags = cpu_info().flags
    print(f"CPU {cpu_info().model}: VNNI {', '.join(f for f in VNNI_FLAGS if f in flags) or 'none'}; "
          f"reduce_range chosen: {reduce_range_for(flags)}")
    print("| INT8 weights | agreement vs FP32 ONNX | test IoU | median ms/batch | p90 ms | speedup vs FP32 ONNX |")
    print("|---|---|---|---|---|---|")
    for row in result["models"]:
        print(f"| {row['name']} | {row['agreement_iou']:.4f} | {row['iou']:.4f} | {row['latency_ms']['median']:.1f} | "
              f"{row['latency_ms']['p90']:.1f} | {row['speedup']:.2f}x |")


if __name__ == "__main__":
    main()
