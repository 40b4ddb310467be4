"""The published-result table at width 32, 256x256, batch 8: bilinear FP32 -> swapped -> INT8.

Trains the bilinear seed (unless --model is given), swaps it with each design, exports the FP32 ONNX
model, quantizes every candidate, then times all of them side by side in one process and prints the
Markdown table (also written beside --out as table.json / table.md). Run: `make bench` or
`.venv/bin/python benchmarks/speed_table.py --out runs/bench`.
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from personseg.data.synthetic import write_synthetic
from personseg.evaluate.report import markdown_table
from personseg.evaluate.step import EvalConfig
from personseg.evaluate.step import run as evaluate
from personseg.quantize.step import QuantizeConfig, export
from personseg.quantize.step import run as quantize
from personseg.swap.step import SwapConfig
from personseg.swap.step import run as swap
from personseg.training.step import TrainConfig
from personseg.training.step import run as train


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", default="runs/bench")
    p.add_argument("--data", help="dataset (default: 240 synthetic 256px images made under --out)")
    p.add_argument("--model", help="a trained bilinear model to start from (skips training)")
    p.add_argument("--width", type=int, default=32)
    p.add_argument("--size", type=int, default=256)
    p.add_argument("--epochs", type=int, default=10)
    p.add_argument("--swap-epochs", type=int, default=2)
    p.add_argument("--designs", default="exact:1,lean:2,lean:4", help="swap designs to compare, design:squeeze")
    p.add_argument("--rounds", type=int, default=10)
    p.add_argument("--threads", type=int, default=0)
    p.add_argument("--tolerable-iou-loss", type=float, default=0.02,
                   help="INT8 tuning tolerance in absolute IoU points (the pipeline's default)")
    args = p.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    out = Path(args.out)
    data = args.data or str(out / "syn256")
    if not args.data and not Path(data).exists():
        write_synthetic(data, 240, args.size, seed=7)
    seed = args.model or str(out / "bilinear")
    if not args.model:
        train(TrainConfig(data=data, width=args.width, size=args.size, epochs=args.epochs, lr=2e-3), seed, force=True)
    models = [f"bilinear={seed}"]
    int8 = []
    for spec in args.designs.split(","):
        design, _, squeeze = spec.partition(":")
        name = f"{design}{squeeze}"
        swap(SwapConfig(model=seed, data=data, design=design, squeeze=int(squeeze or 1),
                         epochs=args.swap_epochs), out / name, force=True)
        quantize(QuantizeConfig(model=str(out / name), data=data, calibration=32,
                                 tolerable_iou_loss=args.tolerable_iou_loss), out / f"{name}-int8",
                 force=True)
        models.append(f"{name}={out / name}")
        int8.append(f"{name}-int8={out / f'{name}-int8'}")
    export(seed, out / "bilinear-onnx", force=True)
    quantize(QuantizeConfig(model=seed, data=data, calibration=32, tolerable_iou_loss=args.tolerable_iou_loss),
             out / "bilinear-int8", force=True)
    models += [f"bilinear-onnx-fp32={out / 'bilinear-onnx'}", f"bilinear-int8={out / 'bilinear-int8'}", *int8]
    result = evaluate(EvalConfig(models=tuple(models), data=data, batch_size=8, rounds=args.rounds,
                                 threads=args.threads), out / "table.json", force=True)
    print(markdown_table(result))


if __name__ == "__main__":
    main()
