"""``personseg train``: fit a U-Net on a dataset and save the best checkpoint."""

import argparse

from personseg.commands._help import RawHelpFormatter
from personseg.commands._output import add_force
from personseg.training.config import TrainConfig

EPILOG = """\
devices and ranks:
  --device auto|cpu|cuda    auto: CUDA when torch sees it, else the CPU (logged)
  --precision fp32|bf16|fp16  autocast; fp16 (with loss scaling) only on CUDA, bf16 also on the CPU
  --workers N               data-loader processes per rank (default: CPU quota minus training threads)
  --nproc N                 N ranks on this machine via torch's elastic launcher (gloo on CPU, nccl on
                            CUDA); --batch-size is the global batch, each rank takes ceil(B / N)

running under torchrun (e.g. Kubeflow Trainer's torch runtime, one rank per node):
  python -m torch.distributed.run --nnodes N --node-rank I --nproc-per-node 1 \\
      --master-addr HOST --master-port PORT -m personseg train --data D --out OUT ...
  Each process reads RANK, WORLD_SIZE, LOCAL_RANK, LOCAL_WORLD_SIZE, MASTER_ADDR and MASTER_PORT and
  joins that group (leave --nproc at 1). Every rank needs the same --data and the same flags; only
  rank 0 writes --out, the per-epoch state (--checkpoint-dir) and metrics, so OUT must be where rank
  0 can write. Threads per rank: CPU quota / LOCAL_WORLD_SIZE. A rank that dies makes the others fail
  after at most --dist-timeout seconds; exit code 0 on every rank means the model was written.
"""


def register(sub: argparse._SubParsersAction) -> None:
    """Add the command."""
    p = sub.add_parser("train", help="train a segmentation model", epilog=EPILOG,
                       formatter_class=RawHelpFormatter)
    p.add_argument("--data", required=True, help="dataset folder or s3:// prefix; trains on its train split and "
                   "keeps the epoch best on val (split.json, else a 70/15/15 hash split)")
    p.add_argument("--model", default=TrainConfig.model, help="architecture name")
    p.add_argument("--decoder", default=TrainConfig.decoder, help="bilinear or transposed")
    p.add_argument("--width", type=int, default=TrainConfig.width,
                   help="channels of the first U-Net level (doubled per level)")
    p.add_argument("--size", type=int, default=TrainConfig.size, help="side in pixels images are trained at")
    p.add_argument("--epochs", type=int, default=TrainConfig.epochs, help="passes over the train split")
    p.add_argument("--batch-size", type=int, default=TrainConfig.batch_size,
                   help="global batch size (split over ranks)")
    p.add_argument("--lr", type=float, default=TrainConfig.lr, help="AdamW learning rate")
    p.add_argument("--weight-decay", type=float, default=TrainConfig.weight_decay, help="AdamW weight decay")
    p.add_argument("--seed", type=int, default=TrainConfig.seed, help="random seed (weights, order, augmentation)")
    p.add_argument("--no-augment", action="store_true", help="train on the images as they are (no flip, crop, colour)")
    p.add_argument("--composite", type=float, default=TrainConfig.composite,
                   help="probability that a training sample becomes a copy-paste composite: its people on an "
                   "inpainted, generated or other photo's background, with 1-3 people (0: off; 0.5 measured 7 "
                   "points better on real photographs, docs/results.md)")
    p.add_argument("--photometric", type=float, default=TrainConfig.photometric,
                   help="probability of each of blur, noise and JPEG artefacts on a training sample (greyscale: "
                   "half of it; 0: off)")
    p.add_argument("--background-hue", type=float, default=TrainConfig.background_hue,
                   help="largest turn of a composite's background colours, as a fraction of the colour wheel "
                   "(0.5: any hue; people keep theirs; 0: off)")
    p.add_argument("--backgrounds", default=TrainConfig.backgrounds,
                   help="photos with nobody in them as a fourth kind of composite background: 'scenes' (the "
                   "committed set, datasets/scenes), or a folder or s3:// prefix of photos of your own settings "
                   "(needs --composite)")
    p.add_argument("--skip-invalid", action="store_true",
                   help="drop samples whose headers are bad (counted in a warning) and mask out samples that fail "
                   "to decode mid-training (counted per epoch)")
    p.add_argument("--threads", type=int, default=TrainConfig.threads,
                   help="torch threads per rank (0: CPU quota / ranks here)")
    p.add_argument("--workers", type=int, default=TrainConfig.workers,
                   help="data-loader worker processes per rank (-1: CPU quota minus training threads; 0: none)")
    p.add_argument("--device", default=TrainConfig.device, help="auto, cpu or cuda")
    p.add_argument("--precision", default=TrainConfig.precision, help="fp32, bf16 or fp16 (autocast)")
    p.add_argument("--nproc", type=int, default=TrainConfig.nproc, help="training ranks to launch on this machine")
    p.add_argument("--dist-timeout", type=float, default=TrainConfig.dist_timeout,
                   help="seconds a rank waits for the others (rendezvous and each collective) before failing")
    p.add_argument("--resume", help="training state (train_state.pt or its folder) to continue from")
    p.add_argument("--checkpoint-dir", help="folder or s3:// prefix for the per-epoch state (default OUT.ckpt); "
                   "a run started again on it continues after its last complete epoch")
    p.add_argument("--out", required=True, help="saved-model directory to write, or an s3:// prefix that rank 0 "
                   "uploads it to when training ends (how a Kubeflow TrainJob's nodes hand the model back)")
    add_force(p)
    p.set_defaults(func=handle)


def config_from_args(args: argparse.Namespace) -> TrainConfig:
    """The ``TrainConfig`` the parsed flags describe."""
    return TrainConfig(data=args.data, model=args.model, decoder=args.decoder, width=args.width, size=args.size,
                       epochs=args.epochs, batch_size=args.batch_size, lr=args.lr, weight_decay=args.weight_decay,
                       seed=args.seed, augment=not args.no_augment, composite=args.composite,
                       photometric=args.photometric, background_hue=args.background_hue,
                       backgrounds=args.backgrounds, skip_invalid=args.skip_invalid,
                       threads=args.threads, workers=args.workers, device=args.device, precision=args.precision,
                       nproc=args.nproc, dist_timeout=args.dist_timeout)


def handle(args: argparse.Namespace) -> int:
    """Build the config and train; only rank 0 (or the launcher) prints the result and uploads an s3:// --out."""
    from personseg.training.distributed import env_group
    from personseg.training.remote_out import output_dir
    from personseg.training.step import run

    with output_dir(args.out, args.force) as out:
        result = run(config_from_args(args), out, resume=args.resume, checkpoint_dir=args.checkpoint_dir,
                     force=args.force)
    group = env_group()
    if args.nproc == 1 and (group is None or group.is_main):  # with --nproc N, rank 0 has printed it
        print(f"{args.out}: best val IoU {result.best_val_iou:.4f} at epoch {result.best_epoch}")
    return 0
