"""``personseg export``: a PyTorch saved model as an FP32 ONNX Runtime saved model."""

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    """Add the command."""
    p = sub.add_parser("export", help="export a PyTorch saved model to ONNX (FP32)")
    p.add_argument("--model", required=True, help="PyTorch saved model (directory, s3:// or models:/)")
    p.add_argument("--out", required=True, help="ONNX saved-model directory to write")
    p.set_defaults(func=handle)


def handle(args: argparse.Namespace) -> int:
    """Export and print where."""
    from personseg.quantize.step import export

    print(export(args.model, args.out))
    return 0
