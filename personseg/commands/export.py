"""``personseg export``: a PyTorch saved model as an FP32 ONNX Runtime saved model."""

import argparse

from personseg.commands._output import add_force


def register(sub: argparse._SubParsersAction) -> None:
    """Add the command."""
    p = sub.add_parser("export", help="export a PyTorch saved model to ONNX (FP32)")
    p.add_argument("--model", required=True, help="PyTorch saved model (directory, s3:// or models:/)")
    p.add_argument("--out", required=True, help="ONNX saved-model directory to write")
    add_force(p)
    p.set_defaults(func=handle)


def handle(args: argparse.Namespace) -> int:
    """Export and print where."""
    from personseg.quantize.step import export

    print(export(args.model, args.out, force=args.force))
    return 0
