"""``personseg quantize``: INT8 post-training quantization guarded by IoU."""

import argparse

from personseg.commands._output import add_force
from personseg.quantize.config import QuantizeConfig


def register(sub: argparse._SubParsersAction) -> None:
    """Add the command."""
    p = sub.add_parser("quantize", help="quantize an FP32 model to INT8 (INC on ONNX Runtime)")
    p.add_argument("--model", required=True, help="FP32 PyTorch saved model (directory, s3:// or models:/)")
    p.add_argument("--data", required=True, help="dataset: calibrates on its train split, tunes on val (then train)")
    p.add_argument("--out", required=True, help="INT8 saved-model directory to write")
    add_force(p)
    p.add_argument("--backend", default="onnxruntime", help="onnxruntime (the fastest on this CPU, measured)")
    p.add_argument("--runtime", default="onnxruntime", choices=("onnxruntime", "openvino"),
                   help="what runs the INT8 model: onnxruntime (INT8 ONNX) or openvino (the INC result, with its image "
                        "convolution quantized or NNCF's if measured faster, saved as OpenVINO IR)")
    p.add_argument("--calibration", type=int, default=QuantizeConfig.calibration,
                   help="number of training images to calibrate on (>= 8)")
    p.add_argument("--tolerable-iou-loss", type=float, default=QuantizeConfig.tolerable_iou_loss,
                   help="IoU points INT8 may lose against FP32 on the tuning images (absolute: 0.02 = two points)")
    p.add_argument("--min-agreement", type=float, default=QuantizeConfig.min_agreement,
                   help="gate: IoU of INT8 masks vs FP32 masks")
    p.add_argument("--max-trials", type=int, default=QuantizeConfig.max_trials,
                   help="quantization recipes tried before giving up")
    p.add_argument("--int8-input-convs", dest="fp32_input_convs", action="store_false",
                   help="tune with the convolution that reads the image quantized too (by default INC tunes it in "
                        "FP32: it moved masks most; with --runtime openvino the step then also times a candidate "
                        "with it quantized and keeps that one only when it is faster at nearly the same agreement: "
                        "docs/quantization.md)")
    p.set_defaults(func=handle)


def handle(args: argparse.Namespace) -> int:
    """Quantize and print the gate's figures."""
    from personseg.console.noise import quiet_onnxruntime
    from personseg.quantize.step import run

    quiet_onnxruntime(getattr(args, "verbose", False))
    cfg = QuantizeConfig(model=args.model, data=args.data, backend=args.backend, runtime=args.runtime,
                         calibration=args.calibration, tolerable_iou_loss=args.tolerable_iou_loss,
                         min_agreement=args.min_agreement, max_trials=args.max_trials,
                         fp32_input_convs=args.fp32_input_convs)
    m = run(cfg, args.out, force=args.force)
    method = f" [OpenVINO, {m['openvino_method']}]" if "openvino_method" in m else ""
    # the step has logged a warning when nothing was kept in INT8; the result line says it too
    held = "INT8" if m["precision"] == "int8" else "FP32 (no INT8 op kept)"
    print(f"{args.out}{method}: {held} IoU {m['tune_iou_int8']:.4f} (FP32 {m['tune_iou_fp32']:.4f}) on "
          f"{m['tune_images']} tuning images (calibrated on {m['calibration_images']}); agreement with FP32 masks "
          f"{m['agreement_iou']:.4f}")
    return 0
