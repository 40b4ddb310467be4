"""OpenVINO's performance counters read into where a batch's time goes, on real compiled models."""

import numpy as np
import pytest

from personseg.quantize.openvino_graph import Kernel, Profile, profile

pytest.importorskip("openvino")


def _profiled(model_path, runs=2):
    from personseg.runtime.openvino import compile_openvino

    batch = np.random.default_rng(0).random((2, 3, 64, 64), dtype=np.float32)
    return profile(compile_openvino(model_path, 1, 64, profile=True), batch, runs=runs)


def test_an_fp32_model_runs_its_convolutions_in_f32(tiny_onnx_fp32):
    prof = _profiled(tiny_onnx_fp32 / "model.onnx")
    types = prof.by_type()
    assert types["Convolution"]["count"] >= 18, types  # the width-8 U-Net's convolutions, each executed
    assert all(e.endswith("_f32") for e in types["Convolution"]["exec_types"]), types
    assert {k.precision for k in prof.kernels if k.node_type == "Convolution"} == {"f32"}
    assert prof.total_ms > 0 and sum(r["count"] for r in types.values()) == len(prof.kernels)
    assert prof.share(prof.float_kernels()) > 0.5


def test_an_int8_model_runs_8_bit_convolutions_and_its_summary_names_them(tiny_int8):
    prof = _profiled(tiny_int8 / "model.onnx")
    convs = [k for k in prof.kernels if k.node_type == "Convolution"]
    assert sum(k.precision in ("i8", "u8") for k in convs) >= len(convs) - 1  # all but the image's (kept FP32)
    summary = prof.summary()
    assert summary["batch"] == 2 and summary["runs"] == 2
    assert 0 <= summary["float_share"] < 0.5 and 0 <= summary["overhead_share"] < 1
    assert [k["node_type"] for k in summary["float_kernels"]].count("Convolution") == 1
    assert all(k["node_type"] in ("Reorder", "Convert", "FakeQuantize") for k in summary["overheads"])


def test_profiling_a_model_compiled_without_counters_is_refused(tiny_onnx_fp32):
    from personseg.runtime.openvino import compile_openvino

    with pytest.raises(ValueError, match="PERF_COUNT"):
        profile(compile_openvino(tiny_onnx_fp32 / "model.onnx", 1, 64), np.zeros((1, 3, 64, 64), np.float32))


def test_kernels_are_sorted_into_float_work_and_overheads():
    kernels = (Kernel("conv", "Convolution", "brgconv_avx512_amx_I8", 5.0),
               Kernel("first", "Convolution", "brgconv_avx512_f32", 3.0),
               Kernel("to_u8", "Reorder", "jit_uni_f32", 1.0),
               Kernel("requant", "FakeQuantize", "jit_avx512_f32", 0.5),
               Kernel("zp", "Subtract", "jit_avx512_f32", 0.5))
    prof = Profile(kernels, batch=8, runs=1)
    assert [k.name for k in prof.float_kernels()] == ["first", "zp"]
    assert [k.name for k in prof.overheads()] == ["to_u8", "requant"]
    assert prof.share(prof.float_kernels()) == pytest.approx(0.35)
    assert kernels[0].precision == "i8" and kernels[1].precision == "f32"
