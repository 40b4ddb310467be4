"""The sub-pixel rewrite is exact: same outputs as the transposed convolution it replaces."""

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch

from personseg.quantize.rewrite import convtranspose_to_subpixel


def _export(module, x, path):
    torch.onnx.export(module.eval(), (x,), str(path), dynamo=False, opset_version=17, input_names=["input"],
                      output_names=["out"])
    return onnx.load(str(path))


def _run(model, x):
    sess = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    return sess.run(None, {"input": x})[0]


@pytest.mark.parametrize("stride,bias", [(2, False), (2, True), (4, True)])
def test_subpixel_rewrite_matches_convtranspose(tmp_path, stride, bias):
    module = torch.nn.ConvTranspose2d(6, 5, stride, stride=stride, bias=bias)
    x = torch.randn(2, 6, 7, 9)
    model = _export(module, x, tmp_path / "m.onnx")
    before = _run(model, x.numpy())
    rewritten, count = convtranspose_to_subpixel(model)
    onnx.checker.check_model(rewritten)
    assert count == 1
    assert [n.op_type for n in rewritten.graph.node] == ["Conv", "DepthToSpace"]
    np.testing.assert_allclose(_run(rewritten, x.numpy()), before, rtol=1e-5, atol=1e-5)


def test_other_transposed_convolutions_are_left_alone(tmp_path):
    module = torch.nn.ConvTranspose2d(4, 4, 4, stride=2, padding=1, groups=4, bias=False)  # the exact design
    model = _export(module, torch.randn(1, 4, 6, 6), tmp_path / "m.onnx")
    rewritten, count = convtranspose_to_subpixel(model)
    assert count == 0 and [n.op_type for n in rewritten.graph.node] == ["ConvTranspose"]
