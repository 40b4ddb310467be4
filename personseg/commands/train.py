"""``personseg train``: fit a U-Net on a dataset and save the best checkpoint."""

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    """Add the command."""
    p = sub.add_parser("train", help="train a segmentation model")
    p.add_argument("--data", required=True, help="dataset folder or s3:// prefix; trains on its train split and "
                   "keeps the epoch best on val (split.json, else a 70/15/15 hash split)")
    p.add_argument("--model", default="unet")
    p.add_argument("--decoder", default="bilinear", help="bilinear or transposed")
    p.add_argument("--width", type=int, default=32)
    p.add_argument("--size", type=int, default=256)
    p.add_argument("--epochs", type=int, default=20)
    p.add_argument("--batch-size", type=int, default=8)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--no-augment", action="store_true")
    p.add_argument("--skip-invalid", action="store_true", help="skip bad samples (counted in a warning)")
    p.add_argument("--threads", type=int, default=0)
    p.add_argument("--resume", help="training state (train_state.pt or its folder) to continue from")
    p.add_argument("--checkpoint-dir", help="where per-epoch state goes (default OUT.ckpt)")
    p.add_argument("--out", required=True, help="saved-model directory to write, or an s3:// prefix that rank 0 "
                   "uploads it to when training ends (how a Kubeflow TrainJob's nodes hand the model back)")
    p.set_defaults(func=handle)


def handle(args: argparse.Namespace) -> int:
    """Build the config and train."""
    from personseg.training.remote_out import output_dir
    from personseg.training.step import TrainConfig, run

    cfg = TrainConfig(data=args.data, model=args.model, decoder=args.decoder, width=args.width, size=args.size,
                      epochs=args.epochs, batch_size=args.batch_size, lr=args.lr, seed=args.seed,
                      augment=not args.no_augment, skip_invalid=args.skip_invalid, threads=args.threads)
    with output_dir(args.out) as out:
        result = run(cfg, out, resume=args.resume, checkpoint_dir=args.checkpoint_dir)
    print(f"{args.out}: best val IoU {result.best_val_iou:.4f} at epoch {result.best_epoch}")
    return 0
