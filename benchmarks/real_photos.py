"""Does an augmentation recipe help on real photographs? Train it over several seeds and score both sets.

    PYTHONPATH=$PWD python benchmarks/real_photos.py --out runs/real --seeds 0 1 2 \
        --recipe plain=0:0 --recipe composite=0.5:0 --recipe composite+photo=0.5:0.3 --recipe hue=0.5:0:0.5 \
        --recipe scenes=0.5:0:0:scenes

Each ``--recipe NAME=COMPOSITE:PHOTOMETRIC[:BACKGROUND_HUE[:BACKGROUNDS]]`` (``BACKGROUNDS``: ``personseg
train --backgrounds``, ``scenes`` or a folder) is trained (``personseg train``'s code, FP32, the best
epoch on val) once per seed on ``--data``'s train split at ``--size``/``--width``/``--epochs``, then
scored on ``--data``'s held-out test split and on every image of ``--real`` (the committed real
photographs, never used for training or selection). Prints one line per run, then each recipe's mean
and spread (min-max over seeds) on both sets, then each recipe against the first, paired by seed (the
same seed is the same initial weights and sample order): the mean difference, its standard error and
whether it exceeds twice that. With 4 real photos the seed-to-seed spread is several points, so a
2-point mean difference over 3-5 seeds is usually noise; this line says so instead of the reader.
Writes everything to ``OUT/real_photos.json``.
A run already finished under ``OUT`` with the same settings is scored again, not retrained.
The INT8 models the pipeline deploys are scored by the pipeline's own report (``iou_extra_*``).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from personseg.bench.real_photos import Recipe, paired, parse_recipe, score, summary  # noqa: E402
from personseg.cpuinfo import cpu_info  # noqa: E402


def train_one(args: argparse.Namespace, recipe: Recipe, seed: int) -> dict:
    """Train one recipe with one seed and score it on both sets."""
    from personseg.training.step import TrainConfig, run

    out = Path(args.out) / f"{recipe.name}-seed{seed}"
    cfg = TrainConfig(data=args.data, width=args.width, size=args.size, epochs=args.epochs, seed=seed,
                      composite=recipe.composite, photometric=recipe.photometric,
                      background_hue=recipe.background_hue, backgrounds=recipe.backgrounds, workers=args.workers)
    done = out / "run.json"
    if done.is_file() and json.loads(done.read_text())["config"] == dataclasses.asdict(cfg):
        finished = json.loads(done.read_text())  # a study stopped and started again: keep what was trained
    else:
        start = time.perf_counter()
        result = run(cfg, out, force=True)
        finished = {"config": dataclasses.asdict(cfg), "val_iou": result.best_val_iou,
                    "best_epoch": result.best_epoch, "train_seconds": round(time.perf_counter() - start, 1)}
        done.write_text(json.dumps(finished))
    return {"recipe": recipe.name, "composite": recipe.composite, "photometric": recipe.photometric,
            "background_hue": recipe.background_hue, "backgrounds": recipe.backgrounds, "seed": seed,
            "val_iou": finished["val_iou"], "best_epoch": finished["best_epoch"],
            "train_seconds": finished["train_seconds"],
            "demo_test_iou": score(out, args.data, "test"), "real_iou": score(out, args.real, "all")}


def main(argv: list[str] | None = None) -> dict:
    """Run every recipe with every seed; print and save the figures."""
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", default="datasets/demo")
    p.add_argument("--real", default="datasets/real")
    p.add_argument("--out", required=True)
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--recipe", action="append", required=True, metavar="NAME=COMPOSITE:PHOTOMETRIC[:HUE[:BACKGROUNDS]]")
    p.add_argument("--size", type=int, default=128)
    p.add_argument("--width", type=int, default=16)
    p.add_argument("--epochs", type=int, default=15)
    p.add_argument("--workers", type=int, default=-1)
    args = p.parse_args(argv)
    recipes = [parse_recipe(r) for r in args.recipe]
    print(f"cpu: {cpu_info().summary()}  load average: {os.getloadavg()}")
    print(f"data {args.data} (test split) and {args.real} (all); {args.size}px width {args.width} "
          f"{args.epochs} epochs; seeds {args.seeds}")
    runs = []
    for recipe in recipes:
        for seed in args.seeds:
            r = train_one(args, recipe, seed)
            runs.append(r)
            print(f"{recipe.name:<18} seed {seed}  val {r['val_iou']:.4f} (ep {r['best_epoch']})  demo test "
                  f"{r['demo_test_iou']:.4f}  real {r['real_iou']:.4f}  {r['train_seconds']:.0f}s", flush=True)
    rows = summary(runs)
    print(f"\n{'recipe':<18} {'demo test IoU':>24} {'real IoU':>24} {'train s':>8}")
    for row in rows:
        demo, real = row["demo_test_iou"], row["real_iou"]
        print(f"{row['recipe']:<18} {demo['mean']:>8.4f} ({demo['min']:.4f}-{demo['max']:.4f}) "
              f"{real['mean']:>8.4f} ({real['min']:.4f}-{real['max']:.4f}) {row['train_seconds']['mean']:>8.0f}")
    pairs = paired(runs)
    for pair in pairs:
        verdict = "beyond 2 SE" if pair["resolvable"] else "within 2 SE: not resolved by these seeds"
        print(f"{pair['recipe']} vs {pair['against']}, real IoU paired over {pair['seeds']} seed(s): "
              f"{pair['mean_diff']:+.4f} (SE {pair['se']:.4f}), {verdict}")
    result = {"cpu": cpu_info().summary(), "args": vars(args), "runs": runs, "summary": rows, "paired": pairs}
    Path(args.out).mkdir(parents=True, exist_ok=True)
    (Path(args.out) / "real_photos.json").write_text(json.dumps(result, indent=2))
    return result


if __name__ == "__main__":
    main()
