"""``personseg swap``: replace the bilinear decoder's upsampling with transposed convolutions, or prune channels."""

import argparse

from personseg.commands._output import add_force
from personseg.swap.config import SwapConfig, design_name


def register(sub: argparse._SubParsersAction) -> None:
    """Add the command."""
    p = sub.add_parser("swap", help="swap a trained bilinear U-Net to transposed convolutions and fine-tune")
    p.add_argument("--model", required=True, help="trained bilinear model (directory, s3:// or models:/)")
    p.add_argument("--to", default="transposed", choices=["transposed"], help="decoder to swap to")
    p.add_argument("--design", default=design_name(SwapConfig.design, SwapConfig.squeeze),
                   help="exact (function-preserving), or leanN / lean:N (fewer FLOPs: the transposed convs reduce "
                   "channels N-fold; lean alone is lean2), or pruneNN / prune:R (remove NN %% / ratio R of every "
                   "convolution's channels, then distil); the same names as the pipeline's swap_design")
    p.add_argument("--squeeze", type=int, help="lean: channel reduction of the transposed convs (overrides the N of "
                   "--design)")
    p.add_argument("--ratio", type=float, help="prune: share of every convolution's channels removed, in (0, 1) "
                   "(overrides the NN of --design pruneNN)")
    p.add_argument("--data", required=True, help="dataset for fine-tuning and before/after IoU")
    p.add_argument("--epochs", type=int, default=SwapConfig.epochs, help="fine-tuning epochs (0: swap only)")
    p.add_argument("--lr", type=float, help="fine-tuning learning rate (default: 3e-4 for lean and exact, 1e-3 for "
                   "prune)")
    p.add_argument("--no-distill", action="store_true", help="fine-tune on labels only")
    p.add_argument("--seed", type=int, default=SwapConfig.seed, help="random seed")
    p.add_argument("--out", required=True, help="swapped saved-model directory to write")
    add_force(p)
    p.set_defaults(func=handle)


def handle(args: argparse.Namespace) -> int:
    """Swap, fine-tune, save, and print IoU before and after."""
    from personseg.errors import UserError
    from personseg.swap.config import parse_design
    from personseg.swap.step import run

    try:
        design = parse_design(args.design)
    except ValueError as exc:
        raise UserError(f"--design: {exc}") from None
    numbered = args.design.rstrip("0123456789:.") != args.design
    for flag, key in (("squeeze", "squeeze"), ("ratio", "ratio")):
        value = getattr(args, flag)
        if value is None:
            continue
        if numbered and value != design[key]:
            raise UserError(f"--design {args.design} --{flag} {value}: two {flag}s; give one")
        design[key] = value
    cfg = SwapConfig(model=args.model, data=args.data, **design, epochs=args.epochs, lr=args.lr,
                     distill=not args.no_distill, seed=args.seed)
    r = run(cfg, args.out, force=args.force)
    print(f"{args.out}: val IoU bilinear {r['val_iou_bilinear']:.4f} -> swapped ({r['design']}) "
          f"{r['val_iou_swapped_initial']:.4f} at swap, {r['val_iou_swapped']:.4f} after fine-tuning")
    return 0
