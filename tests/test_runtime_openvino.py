"""OpenVINO as a runtime: the card's ``runtime`` field, the predictor's compile settings, bad input."""

import json
import subprocess
import sys

import numpy as np
import pytest
from serving_fixtures import make_tiny_model, make_tiny_openvino_model, reference_logits

from personseg.errors import UserError
from personseg.modeldir import read_model_dir, write_config
from personseg.runtime import load_predictor
from personseg.runtime.onnx import OnnxPredictor
from personseg.runtime.openvino import OpenVINOPredictor, compile_openvino, cpu_config

pytest.importorskip("openvino")


def _edit_card(model, **changes):
    path = model / "config.json"
    card = json.loads(path.read_text())
    for key, value in changes.items():
        if value is None:
            card.pop(key, None)
        else:
            card[key] = value
    path.write_text(json.dumps(card))
    return path


def test_a_card_without_runtime_gets_the_runtime_of_its_kind(tmp_path):
    model = make_tiny_model(tmp_path / "onnx")
    assert json.loads((model / "config.json").read_text())["runtime"] == "onnxruntime"  # written explicitly now
    _edit_card(model, runtime=None)  # a card written before the field existed
    assert read_model_dir(model).runtime == "onnxruntime"
    assert isinstance(load_predictor(model, 1), OnnxPredictor)
    torch_dir = tmp_path / "torch"
    torch_dir.mkdir()
    (torch_dir / "model.safetensors").write_bytes(b"")
    write_config(torch_dir, kind="torch", precision="fp32", weights="model.safetensors", image_size=64, arch={})
    _edit_card(torch_dir, runtime=None)
    assert read_model_dir(torch_dir).runtime == "torch"
    assert read_model_dir(make_tiny_openvino_model(tmp_path / "ir")).runtime == "openvino"


@pytest.mark.parametrize(("kind", "runtime", "words"), [
    ("torch", "openvino", ["field 'runtime'", "'openvino'", "kind is 'torch'"]),
    ("onnx", "torch", ["field 'runtime'", "'torch'", "kind is 'onnx'"]),
    ("onnx", "tensorrt", ["field 'runtime'", "'tensorrt'", "onnxruntime, openvino"]),
])
def test_a_runtime_that_cannot_run_the_kind_is_named_with_the_file(tmp_path, kind, runtime, words):
    model = make_tiny_model(tmp_path / "m")
    path = _edit_card(model, kind=kind, runtime=runtime)
    with pytest.raises(UserError) as err:
        read_model_dir(model)
    assert str(path) in str(err.value) and all(w in str(err.value) for w in words), err.value


def test_write_config_refuses_a_pair_no_runtime_can_run(tmp_path):
    with pytest.raises(ValueError, match="runtime"):
        write_config(tmp_path, kind="torch", runtime="openvino", precision="fp32", weights="w", image_size=64, arch={})


def test_an_openvino_model_names_its_xml_and_needs_the_bin_beside_it(tmp_path):
    model = make_tiny_openvino_model(tmp_path / "ir")
    (model / "model.bin").unlink()
    with pytest.raises(UserError, match=r"model\.bin .*is missing"):
        read_model_dir(model)
    onnx_named = make_tiny_model(tmp_path / "onnx")
    path = _edit_card(onnx_named, kind="openvino", runtime="openvino")
    with pytest.raises(UserError) as err:
        read_model_dir(onnx_named)
    assert str(path) in str(err.value) and "'weights'" in str(err.value) and ".xml" in str(err.value)


def test_an_unreadable_xml_is_a_user_error_naming_the_file(tmp_path):
    model = make_tiny_openvino_model(tmp_path / "ir")
    (model / "model.xml").write_text("<net>not a model")
    with pytest.raises(UserError) as err:
        load_predictor(model, 1)
    assert str(model / "model.xml") in str(err.value) and "OpenVINO cannot read it" in str(err.value)


def test_one_onnx_model_runs_on_either_runtime_with_a_dynamic_batch(tmp_path):
    model = make_tiny_model(tmp_path / "onnx")
    batch = np.random.default_rng(0).random((5, 3, 64, 64), dtype=np.float32)
    openvino = load_predictor(model, 1, runtime="openvino")
    onnxruntime = load_predictor(model, 1, runtime="onnxruntime")
    assert isinstance(openvino, OpenVINOPredictor) and openvino.runtime == "openvino"
    assert isinstance(onnxruntime, OnnxPredictor) and onnxruntime.runtime == "onnxruntime"
    for n in (1, 5):  # one compiled model serves every batch size
        np.testing.assert_allclose(openvino.logits(batch[:n]), reference_logits(batch[:n]), atol=1e-4)
    first = openvino.logits(batch[:1])
    openvino.logits(batch[1:3])
    np.testing.assert_allclose(first, reference_logits(batch[:1]), atol=1e-4)  # results are copies, not views


def test_a_torch_model_cannot_be_run_by_openvino(tmp_path):
    model = tmp_path / "torch"
    model.mkdir()
    (model / "model.safetensors").write_bytes(b"")
    write_config(model, kind="torch", precision="fp32", weights="model.safetensors", image_size=64, arch={})
    with pytest.raises(UserError, match="runtime is 'openvino' but the model's kind is 'torch'"):
        load_predictor(model, 1, runtime="openvino")


def test_compile_pins_threads_one_stream_latency_and_f32(tmp_path):
    # f32 must be asked for: on AVX-512 BF16 / AMX CPUs OpenVINO's default is bf16. This machine defaults to
    # f32 anyway, so the compiled model's property alone would not notice the pin going missing; the dict does.
    assert cpu_config(3) == {"INFERENCE_NUM_THREADS": 3, "NUM_STREAMS": 1, "PERFORMANCE_HINT": "LATENCY",
                             "INFERENCE_PRECISION_HINT": "f32"}
    import openvino as ov

    model = make_tiny_openvino_model(tmp_path / "ir")
    compiled = compile_openvino(model / "model.xml", 1, 64)
    assert compiled.get_property("INFERENCE_NUM_THREADS") == 1
    assert compiled.get_property("NUM_STREAMS") == 1
    assert str(compiled.get_property("PERFORMANCE_HINT")).endswith("LATENCY")
    assert compiled.get_property("INFERENCE_PRECISION_HINT") == ov.Type.f32
    shape = compiled.input(0).get_partial_shape()
    assert shape[0].is_dynamic and [d.get_length() for d in list(shape)[1:]] == [3, 64, 64]
    from_bytes = compile_openvino((tmp_path / ".ir-onnx" / "model.onnx").read_bytes(), 1, 64)  # benchmarks' path
    batch = np.full((2, 3, 64, 64), 0.25, np.float32)
    np.testing.assert_allclose(from_bytes(batch)[0], reference_logits(batch), atol=1e-4)


def test_the_openvino_path_imports_neither_torch_nor_onnxruntime(tmp_path):
    onnx_model = make_tiny_model(tmp_path / "onnx")
    ir_model = make_tiny_openvino_model(tmp_path / "ir")
    code = (
        "import sys, numpy as np\n"
        "from personseg.runtime import load_predictor\n"
        f"for path, runtime in (({str(ir_model)!r}, None), ({str(onnx_model)!r}, 'openvino')):\n"
        "    p = load_predictor(path, 1, runtime=runtime)\n"
        "    assert p.runtime == 'openvino' and p.logits(np.zeros((1, 3, 64, 64), 'f4')).shape == (1, 1, 64, 64)\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('torch', 'onnxruntime')))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines()[-1] == "[]"
