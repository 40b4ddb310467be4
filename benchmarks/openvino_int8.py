"""INT8 on ONNX Runtime vs INT8 on OpenVINO (INC's QDQ model, and NNCF's), batch 8, interleaved.

Given a lean FP32 PyTorch model and its dataset, runs the INC path once (``personseg quantize``, ONNX
Runtime), then times, taking turns in every round: ONNX Runtime on INC's INT8 ONNX; OpenVINO on the
same file as it is (``inc-qdq``) and as the quantize step rewrites it for OpenVINO (``inc``,
``openvino_qdq``); OpenVINO on NNCF's quantization of the FP32 ONNX (``nncf``). Also prints each
one's agreement with the FP32 masks on the tuning images, the test split and ``--real`` photographs.
``--int8-input-convs`` adds both quantizers with the image's convolution quantized too: ``inc-int8-input``,
the quantize step's candidate (INC's tuned model, that convolution quantized after tuning, its weights
rounded for the calibration patches and its bias corrected: ``input_convs``), the same rounded to nearest
with the bias corrected (``-bias-only``) and with neither (``-uncorrected``), and ``nncf-int8-input`` (NNCF
off the shelf). Run:
`.venv/bin/python benchmarks/openvino_int8.py --model runs/lean2 --data runs/syn --out runs/ov-bench`.
"""

from __future__ import annotations

import argparse
import json
import logging
import platform
from pathlib import Path

import numpy as np
import onnx


def _cpu_flags() -> list[str]:
    """The INT8-relevant flags of this CPU (VNNI, AVX2, AMX), sorted."""
    from personseg.cpuinfo import cpu_info

    return sorted(f for f in cpu_info().flags if f in ("avx512_vnni", "avx_vnni", "avx2") or f.startswith("amx_"))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", required=True, help="FP32 PyTorch saved model (the lean swap)")
    p.add_argument("--data", required=True)
    p.add_argument("--out", required=True, help="folder for the INT8 ONNX model and results.json")
    p.add_argument("--calibration", type=int, default=32)
    p.add_argument("--max-trials", type=int, default=1)
    p.add_argument("--rounds", type=int, default=7)
    p.add_argument("--runs", type=int, default=5)
    p.add_argument("--threads", type=int, default=0, help="default: PERSONSEG_THREADS or the CPU quota")
    p.add_argument("--real", help="a second dataset (real photographs) to measure agreement on too")
    p.add_argument("--int8-input-convs", action="store_true",
                   help="also time both quantizers with the image's convolution quantized")
    args = p.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")

    from personseg.cpuquota import default_threads
    from personseg.data.loading import load_dataset
    from personseg.data.split import split_ids
    from personseg.modeldir import read_model_dir
    from personseg.quality import agreement_iou
    from personseg.quantize.calibration import as_inputs
    from personseg.quantize.openvino_model import (
        int8_input_model,
        interleaved_latencies,
        keeps_input_convs,
        nncf_model,
        openvino_runner,
    )
    from personseg.quantize.openvino_qdq import for_openvino
    from personseg.quantize.step import QuantizeConfig, export, run
    from personseg.runtime import predict_masks
    from personseg.runtime.onnx import onnx_session
    from personseg.runtime.openvino import compile_openvino
    from personseg.uris import local_dataset

    out = Path(args.out)
    threads = args.threads or default_threads()
    int8_dir, fp32_dir = out / "int8", out / "fp32-onnx"
    if not (int8_dir / "config.json").is_file():
        run(QuantizeConfig(model=args.model, data=args.data, calibration=args.calibration,
                           max_trials=args.max_trials), int8_dir)
    if not (fp32_dir / "config.json").is_file():
        export(args.model, fp32_dir)
    info = read_model_dir(int8_dir)
    data = load_dataset(args.data, info.image_size)
    calib = as_inputs(data.subset(info.extra["calibration"]["ids"]))
    tune = data.subset(info.extra["tuning"]["ids"])
    tune_x = as_inputs(tune)
    size = info.image_size

    session = onnx_session(info.weights_path, threads)
    name = session.get_inputs()[0].name
    ov_qdq = compile_openvino(info.weights_path, threads, size)
    tuned = for_openvino(onnx.load(str(info.weights_path)))[0]
    ov_inc = compile_openvino(tuned.SerializeToString(), threads, size)
    # NNCF as the pipeline runs it: the image's convolution as INC's card left it
    ov_nncf = compile_openvino(nncf_model(fp32_dir / "model.onnx", calib, keeps_input_convs(info.extra))[0], threads,
                               size)
    compiled = {"openvino-inc-qdq": ov_qdq, "openvino-inc": ov_inc, "openvino-nncf": ov_nncf}
    if args.int8_input_convs:
        for key, correction in (("openvino-inc-int8-input", "rounding"), ("openvino-inc-int8-input-bias-only", "bias"),
                                ("openvino-inc-int8-input-uncorrected", "none")):
            candidate = int8_input_model(tuned, info.extra, calib, correction)[0]
            compiled[key] = compile_openvino(candidate.SerializeToString(), threads, size)
        compiled["openvino-nncf-int8-input"] = compile_openvino(nncf_model(fp32_dir / "model.onnx", calib, False)[0],
                                                                threads, size)
    runners = {"onnxruntime-int8": lambda b: session.run(None, {name: b}),
               **{k: openvino_runner(c) for k, c in compiled.items()}}
    batch = np.ascontiguousarray(np.resize(tune_x, (8, *tune_x.shape[1:])))
    latency = interleaved_latencies(runners, batch, args.rounds, args.runs)

    fp32 = compile_openvino(fp32_dir / "model.onnx", threads, size)
    sets = {"tuning": tune, "test": data.subset(list(split_ids(data.ids, local_dataset(args.data)).test))}
    if args.real:
        sets["real"] = load_dataset(args.real, size)
    predict = {"onnxruntime-int8": lambda b: session.run(None, {name: b})[0],
               **{k: (lambda b, m=m: m(b)[0]) for k, m in compiled.items()}}
    agreements: dict[str, dict[str, float]] = {k: {} for k in predict}
    for set_name, images in sets.items():
        x = as_inputs(images)
        reference = predict_masks(lambda b: fp32(b)[0], x)
        for key, run_batch in predict.items():
            agreements[key][set_name] = agreement_iou(predict_masks(run_batch, x), reference, images.labels)
    agreement = {k: v["tuning"] for k, v in agreements.items()}
    base = latency["onnxruntime-int8"]
    result = {"model": args.model, "arch": info.arch, "image_size": size, "batch": 8, "threads": threads,
              "rounds": args.rounds, "runs": args.runs, "cpu_flags": _cpu_flags(), "machine": platform.machine(),
              "latency_ms": latency, "speedup_vs_onnxruntime": {k: base / v for k, v in latency.items()},
              "agreement_iou_vs_fp32": agreement, "agreement_iou_vs_fp32_by_set": agreements}
    (out / "results.json").write_text(json.dumps(result, indent=2) + "\n")
    print(f"{info.name} {size}px, batch 8, {threads} threads, CPU flags {result['cpu_flags']}")
    for key, ms in latency.items():
        by_set = " / ".join(f"{v:.4f}" for v in agreements[key].values())
        print(f"  {key:36s} {ms:8.2f} ms  x{base / ms:.2f} vs ONNX Runtime  agreement ({' / '.join(sets)}) {by_set}")


if __name__ == "__main__":
    main()
