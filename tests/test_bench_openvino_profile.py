"""``benchmarks/openvino_profile.py`` prints, per model, the node-type table and the slow spots OpenVINO executes."""

import json

import pytest
from script_modules import load_script

pytest.importorskip("openvino")


def test_it_prints_and_writes_the_table_of_a_saved_model_and_of_a_file(tiny_int8, tiny_onnx_fp32, tmp_path, capsys):
    bench = load_script("benchmarks/openvino_profile.py")
    out = tmp_path / "profile.json"
    result = bench.main([f"int8={tiny_int8}", f"fp32={tiny_onnx_fp32 / 'model.onnx'}", "--size", "64", "--batch",
                         "2", "--threads", "1", "--runs", "1", "--out", str(out)])
    printed = capsys.readouterr().out
    assert "## int8" in printed and "## fp32" in printed and "| Convolution |" in printed
    assert "brgconv" in printed or "jit" in printed  # the kernels OpenVINO picked, by name
    written = json.loads(out.read_text())
    assert written == json.loads(json.dumps(result))
    assert written["models"]["fp32"]["float_share"] > written["models"]["int8"]["float_share"]
    assert written["models"]["int8"]["path"].endswith("model.onnx")


def test_the_convolution_ceiling_is_a_rate():
    from personseg.bench.openvino_profile import conv_peak

    assert conv_peak(1, channels=16, size=16, batch=1, seconds=0.05) > 0
