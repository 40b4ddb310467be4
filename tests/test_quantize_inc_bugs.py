"""Each INC bug we work around, checked to still exist: when one of these fails, the bug is fixed
upstream and its work-around in personseg/quantize/inc_workarounds.py can be deleted."""

import inspect

import numpy as np
import onnx
import pytest
from onnx import helper, numpy_helper

from personseg.errors import UserError
from personseg.quantize.calibration import CalibrationReader
from personseg.quantize.inc_workarounds import autotune_or_raise, extra_op_types, honour_reduce_range, inc_threads


def _conv_model(path):
    rng = np.random.default_rng(0)
    w = numpy_helper.from_array(rng.normal(0, 1, (4, 3, 3, 3)).astype(np.float32), "w")
    node = helper.make_node("Conv", ["input", "w"], ["out"], pads=[1, 1, 1, 1], name="conv")
    graph = helper.make_graph([node], "g", [helper.make_tensor_value_info("input", onnx.TensorProto.FLOAT,
                                                                           [None, 3, 8, 8])],
                              [helper.make_tensor_value_info("out", onnx.TensorProto.FLOAT, [None, 4, 8, 8])], [w])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), str(path))


def _quantize(src, dst, reduce_range):
    from onnx_neural_compressor.quantization import config
    from onnx_neural_compressor.quantization import quantize as inc_quantize
    from onnxruntime.quantization import QuantFormat

    reader = CalibrationReader(np.random.default_rng(1).random((4, 3, 8, 8), dtype=np.float32), 2)
    cfg = config.StaticQuantConfig(reader, quant_format=QuantFormat.QDQ, reduce_range=reduce_range,
                                   extra_options={"WeightSymmetric": True})
    inc_quantize(str(src), str(dst), cfg)
    model = onnx.load(str(dst))
    weights = [numpy_helper.to_array(i) for i in model.graph.initializer if i.data_type == onnx.TensorProto.INT8]
    return max(int(np.abs(w.astype(np.int32)).max()) for w in weights)


def test_inc_ignores_reduce_range_and_the_workaround_honours_it(tmp_path):
    _conv_model(tmp_path / "f.onnx")
    assert _quantize(tmp_path / "f.onnx", tmp_path / "a.onnx", True) > 64  # bug: full int8 range despite the flag
    with honour_reduce_range(True):
        assert _quantize(tmp_path / "f.onnx", tmp_path / "b.onnx", True) <= 64  # 7-bit weights


def test_inc_autotune_exits_when_nothing_meets_the_tolerance():
    from onnx_neural_compressor.quantization import tuning

    assert "exit(0)" in inspect.getsource(tuning.autotune)  # the bug: a library calling exit()


def _tune(tmp_path, scores, max_trials):
    from onnx_neural_compressor.quantization import config, tuning
    from onnxruntime.quantization import QuantFormat

    _conv_model(tmp_path / "f.onnx")
    reader = CalibrationReader(np.random.default_rng(1).random((4, 3, 8, 8), dtype=np.float32), 2)
    tune = tuning.TuningConfig(config_set=config.StaticQuantConfig(reader, quant_format=QuantFormat.QDQ),
                               tolerable_loss=0.01, max_trials=max_trials)
    return dict(model_input=str(tmp_path / "f.onnx"), tune_config=tune, eval_fn=lambda _: next(scores),
                calibration_data_reader=reader)


def test_inc_autotune_returns_a_model_that_misses_the_tolerance_at_max_trials(tmp_path):
    from onnx_neural_compressor.quantization import tuning

    model = tuning.autotune(**_tune(tmp_path, iter([1.0, 0.0]), max_trials=1))
    assert model is not None  # the bug: INT8 scored 0.0 against 1.0, yet a model comes back


def test_autotune_or_raise_refuses_a_model_that_misses_the_tolerance(tmp_path):
    with pytest.raises(UserError, match=r"no INT8 configuration met INC relative loss 0.01 .*0.0000 vs FP32 1.0000"):
        autotune_or_raise(**_tune(tmp_path, iter([1.0, 0.0]), max_trials=1))


def test_autotune_or_raise_turns_exit_into_a_clear_error(tmp_path):
    # the single config is expanded into one trial; with max_trials 5 the config set runs out and INC exits
    with pytest.raises(UserError, match="no INT8 configuration met INC relative loss 0.01"):
        autotune_or_raise(**_tune(tmp_path, iter([1.0] + [0.0] * 10), max_trials=5))


def test_inc_sessions_use_every_core_and_the_workaround_pins_them(tmp_path, sessions):
    made = sessions
    _conv_model(tmp_path / "f.onnx")
    _quantize(tmp_path / "f.onnx", tmp_path / "a.onnx", True)
    assert made and set(made) == {0}  # the bug: 0 lets ONNX Runtime take every core of the node
    made.clear()
    with inc_threads(1):
        _quantize(tmp_path / "f.onnx", tmp_path / "b.onnx", True)
    assert made and set(made) == {1}


def _d2s_model(path):
    """Conv -> DepthToSpace -> Conv: the sub-pixel upsampler between two INT8 convolutions."""
    rng = np.random.default_rng(0)
    w1 = numpy_helper.from_array(rng.normal(0, 1, (12, 3, 1, 1)).astype(np.float32), "w1")
    w2 = numpy_helper.from_array(rng.normal(0, 1, (2, 3, 1, 1)).astype(np.float32), "w2")
    nodes = [helper.make_node("Conv", ["input", "w1"], ["a"], name="conv1"),
             helper.make_node("DepthToSpace", ["a"], ["b"], name="d2s", blocksize=2, mode="DCR"),
             helper.make_node("Conv", ["b", "w2"], ["out"], name="conv2")]
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("input", onnx.TensorProto.FLOAT,
                                                                         [None, 3, 8, 8])],
                              [helper.make_tensor_value_info("out", onnx.TensorProto.FLOAT, [None, 2, 16, 16])],
                              [w1, w2])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), str(path))


def test_inc_refuses_depthtospace_and_the_workaround_quantizes_it(tmp_path):
    from onnx_neural_compressor import constants
    from onnx_neural_compressor.quantization import config
    from onnx_neural_compressor.quantization import quantize as inc_quantize
    from onnxruntime.quantization import QuantFormat

    from personseg.quantize.ort_graph import executed_nodes

    reader = CalibrationReader(np.random.default_rng(1).random((4, 3, 8, 8), dtype=np.float32), 2)
    ops = ["Conv", "DepthToSpace"]
    with pytest.raises(ValueError, match="DepthToSpace"):  # bug: not in INC's CPU op list
        config.StaticQuantConfig(reader, quant_format=QuantFormat.QDQ, op_types_to_quantize=ops)
    _d2s_model(tmp_path / "f.onnx")
    with extra_op_types(("DepthToSpace",)):
        cfg = config.StaticQuantConfig(reader, quant_format=QuantFormat.QDQ, op_types_to_quantize=ops)
        inc_quantize(str(tmp_path / "f.onnx"), str(tmp_path / "q.onnx"), cfg)
    assert "DepthToSpace" not in constants.STATIC_QDQ_CPU_OP_LIST + constants.STATIC_QOPERATOR_CPU_OP_LIST  # restored
    d2s = [n for n in executed_nodes(tmp_path / "q.onnx") if n.op_type == "DepthToSpace"]
    assert [n.input_types for n in d2s] == [("uint8",)]  # ONNX Runtime runs it on INT8
