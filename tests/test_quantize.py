"""INT8 quantization of a tiny trained model: agreement with FP32, the gate, and bad inputs."""

import json

import numpy as np
import onnx
import pytest
from quantize_faults import break_maxpool, inject

from personseg.cli import main
from personseg.cpuinfo import cpu_info
from personseg.errors import UserError
from personseg.quantize.onnx_backend import reduce_range_for
from personseg.quantize.step import QuantizeConfig, run
from personseg.runtime import load_predictor


@pytest.fixture(scope="module")
def int8_model(tiny_model, tiny_dataset, tmp_path_factory):
    out = tmp_path_factory.mktemp("q") / "int8"
    metrics = run(QuantizeConfig(model=str(tiny_model), data=str(tiny_dataset), calibration=32), out)
    return out, metrics


def test_int8_model_loads_and_agrees_with_fp32(int8_model, tiny_model, tiny_dataset):
    out, metrics = int8_model
    cfg = json.loads((out / "config.json").read_text())
    assert cfg["kind"] == "onnx" and cfg["precision"] == "int8"
    # 7-bit weights only where the CPU lacks VNNI, and the config says what chose it
    flags = cpu_info().flags
    assert cfg["quantization"]["reduce_range"] is reduce_range_for(flags) and cfg["quantization"]["format"] == "QDQ"
    assert cfg["quantization"]["reduce_range_chosen_by"].startswith("the CPU (")
    assert len(cfg["calibration"]["sha256"]) == 64 and cfg["calibration"]["count"] == 32
    assert metrics["agreement_iou"] > 0.9
    model = onnx.load(str(out / "model.onnx"))
    assert sum(n.op_type == "DequantizeLinear" for n in model.graph.node) > 10
    int8, fp32 = load_predictor(out), load_predictor(tiny_model)
    from personseg.data.loading import load_dataset
    from personseg.quality import agreement_iou

    x = load_dataset(tiny_dataset, 64).images[:16].transpose(0, 3, 1, 2).astype(np.float32) / 255
    assert agreement_iou(int8.logits(x)[:, 0] > 0, fp32.logits(x)[:, 0] > 0) > 0.9


def test_calibration_and_tuning_never_use_the_test_split(int8_model, tiny_dataset):
    from personseg.data.split import split_ids

    out, _ = int8_model
    card = json.loads((out / "config.json").read_text())
    s = split_ids(sorted(p.stem for p in (tiny_dataset / "images").iterdir()), tiny_dataset)
    assert set(card["calibration"]["ids"]) <= set(s.train)
    assert card["tuning"]["ids"] and not set(card["tuning"]["ids"]) & set(s.test)


def test_gate_detects_a_broken_op_and_keeps_it_in_fp32(tiny_model, tiny_dataset, tmp_path, monkeypatch):
    inject(monkeypatch, break_maxpool)
    metrics = run(QuantizeConfig(model=str(tiny_model), data=str(tiny_dataset), calibration=16, max_trials=1),
                  tmp_path / "q")
    first = metrics["gate"][0]
    assert first["excluded"] == [] and first["agreement_iou"] < 0.95
    assert metrics["agreement_iou"] >= 0.95
    cfg = json.loads((tmp_path / "q" / "config.json").read_text())
    assert "MaxPool" in cfg["quantization"]["excluded_op_types"]


def test_gate_refuses_when_nothing_restores_agreement(tiny_model, tiny_dataset, tmp_path, monkeypatch):
    inject(monkeypatch, break_maxpool)
    with pytest.raises(UserError, match="agree with FP32"):
        run(QuantizeConfig(model=str(tiny_model), data=str(tiny_dataset), calibration=8, max_fallbacks=0),
            tmp_path / "q")
    assert not (tmp_path / "q").exists()


def test_bad_inputs_give_clear_errors(int8_model, tiny_model, tiny_dataset, tmp_path, capsys):
    out, _ = int8_model
    assert main(["quantize", "--model", str(out), "--data", str(tiny_dataset), "--out", str(tmp_path / "x")]) == 2
    assert "is a onnx int8 model; quantize takes an FP32 PyTorch saved model" in capsys.readouterr().err
    assert main(["quantize", "--model", str(tmp_path), "--data", str(tiny_dataset), "--out", str(tmp_path / "x")]) == 2
    assert "no config.json" in capsys.readouterr().err
    empty = tmp_path / "empty"
    (empty / "images").mkdir(parents=True)
    (empty / "masks").mkdir()
    assert main(["quantize", "--model", str(tiny_model), "--data", str(empty), "--out", str(tmp_path / "x")]) == 2
    assert "empty" in capsys.readouterr().err
    assert main(["quantize", "--model", str(tiny_model), "--data", str(tiny_dataset), "--backend", "tensorrt",
                 "--out", str(tmp_path / "x")]) == 2
    assert "available backends are onnxruntime" in capsys.readouterr().err
    assert not (tmp_path / "x").exists()


def test_quantize_gate_agreement_skips_the_ignore_pixels(tiny_model, tiny_dataset, tmp_path, monkeypatch):
    """The INT8-vs-FP32 gate scores only labelled pixels: training does not supervise the letterbox
    padding, and counting it once kept every Conv of the demo model in FP32 (agreement 0.84)."""
    import personseg.quantize.step as step

    seen = []
    real = step.agreement_iou

    def spy(preds, reference, truths=None):
        seen.append(truths)
        return real(preds, reference, truths)

    monkeypatch.setattr(step, "agreement_iou", spy)
    run(QuantizeConfig(model=str(tiny_model), data=str(tiny_dataset), calibration=16, max_trials=1), tmp_path / "q")
    tuned = json.loads((tmp_path / "q" / "config.json").read_text())["tuning"]["tune"]
    assert seen and all(t is not None and len(t) == tuned for t in seen)


def test_reduce_range_is_chosen_by_the_cpu():
    """7-bit weights avoid vpmaddubsw's 16-bit saturation without VNNI; with VNNI the eighth bit is kept."""
    assert reduce_range_for(frozenset({"avx2", "fma"})) is True
    assert reduce_range_for(frozenset({"avx2", "avx512f", "avx512_vnni"})) is False
    assert reduce_range_for(frozenset({"avx2", "avx_vnni"})) is False
    assert reduce_range_for(frozenset()) is True  # unknown CPU (unreadable /proc/cpuinfo): the safe choice
