"""The convolution that reads the image, quantized after tuning: an OpenVINO candidate the step times.

INC tunes the network with that convolution in FP32 (``onnx_backend``: it moved masks most, for 1-3 % of
ONNX Runtime's latency on AVX2). On OpenVINO with VNNI or AMX INT8 kernels it costs more (its f32
convolution and the f32 -> u8 reorder of its full-resolution output: 8-12 % of a batch), so the OpenVINO
step builds this variant as one more candidate and keeps it only when it is faster at nearly the same
agreement (``openvino_model.choose_method``).

What is added is what INC writes when it quantizes that convolution itself: the image as uint8 with scale
1/255 and zero point 0 (the model's input is 8-bit pixels divided by 255, so this is exact for them), and
int8 symmetric weights, one scale per output channel (7-bit where INC's card says ``reduce_range``); plus a
bias correction and a choice of rounding INC does not make. Every input of this convolution is a pixel in
[0, 1], about 0.48 on average, so the weights' rounding errors do not cancel: they shift each output channel
by ``sum(error * mean pixel)``, and the network after it reads that shift as signal. Measured on a pruned
width-32 network (prune50, 256 px, test split): the weights' rounding alone moved agreement with FP32 from
0.9966 to 0.9810 (real photographs 0.9945 to 0.9642; the image's own quantization moved nothing);
subtracting the shift computed from the calibration images' mean 3x3 patch brought it back to 0.9944
(real 0.9875). What the bias cannot take back, the rounding can: each weight is rounded up or down for the
calibration images' 3x3 patches (``rounding.round_for_inputs``), which brought it to 0.9963 (real 0.9928),
next to 0.9966 (0.9945) with the convolution in FP32. Figures for more networks: docs/quantization.md.
"""

from __future__ import annotations

import logging

import numpy as np
import onnx
from onnx import helper, numpy_helper

from personseg.quantize.rounding import ConvGeometry, PatchMoments, patch_moments, round_for_inputs

log = logging.getLogger(__name__)

IMAGE_SCALE = 1.0 / 255.0
# How the weights' rounding is corrected: for the calibration patches and the bias (the step's); to nearest with
# the bias corrected; neither (the last two are a benchmark's controls).
CORRECTIONS = ("rounding", "bias", "none")


def input_convs(model: onnx.ModelProto) -> list[str]:
    """Names of the Conv nodes whose data input is a graph input (the convolutions that read the image)."""
    inputs = {i.name for i in model.graph.input}
    return [n.name for n in model.graph.node if n.op_type == "Conv" and n.input and n.input[0] in inputs]


def _geometry(node: onnx.NodeProto, kernel: tuple[int, ...]) -> ConvGeometry | None:
    """The node's sliding window, or None where it is not one plain 2-D window (groups, automatic padding)."""
    attrs = {a.name: helper.get_attribute_value(a) for a in node.attribute}
    auto_pad = attrs.get("auto_pad", b"NOTSET")
    if len(kernel) != 2 or attrs.get("group", 1) != 1 or auto_pad not in (b"NOTSET", "NOTSET"):
        return None
    return ConvGeometry(kernel=(kernel[0], kernel[1]), strides=tuple(attrs.get("strides", (1, 1))),
                        pads=tuple(attrs.get("pads", (0, 0, 0, 0))), dilations=tuple(attrs.get("dilations", (1, 1))))


def _weights(weight: np.ndarray, reduce_range: bool, moments: PatchMoments | None) -> tuple[np.ndarray, np.ndarray]:
    """Per-output-channel symmetric int8 weights (7-bit with ``reduce_range``) and their scales.

    Rounded for the input patches' ``moments`` when given, else to the nearest step. An all-zero channel
    gets scale 1.
    """
    qmax = 63 if reduce_range else 127
    peak = np.abs(weight.reshape(weight.shape[0], -1)).max(axis=1)
    scale = np.where(peak > 0, peak / qmax, 1.0).astype(np.float32)
    if moments is not None:
        return round_for_inputs(weight, scale, qmax, moments.covariance).astype(np.int8), scale
    shape = (-1,) + (1,) * (weight.ndim - 1)
    return np.clip(np.round(weight / scale.reshape(shape)), -qmax, qmax).astype(np.int8), scale


def _corrected_bias(bias: np.ndarray | None, error: np.ndarray, moments: PatchMoments | None) -> np.ndarray:
    """``bias`` minus the mean shift that the weights' rounding ``error`` causes on patches of ``moments``."""
    base = np.zeros(error.shape[0], np.float32) if bias is None else bias
    if moments is None:
        return base.astype(np.float32)
    return (base - error.reshape(error.shape[0], -1) @ moments.mean).astype(np.float32)


def quantize_input_convs(model: onnx.ModelProto, images: np.ndarray, reduce_range: bool = False,
                         correction: str = "rounding") -> tuple[onnx.ModelProto, list[str]]:
    """A copy of ``model`` with its float input convolutions reading a quantized image with int8 weights.

    ``images`` are calibration inputs (N, C, H, W, as the model reads them). ``correction`` (one of
    ``CORRECTIONS``): ``rounding`` rounds each weight for their patches and takes the mean shift back in the
    bias; ``bias`` rounds to nearest and corrects the bias; ``none`` does neither. A convolution with groups
    or automatic padding is rounded to nearest, uncorrected. ``reduce_range`` gives 7-bit weights, as INC's
    card says it gave the rest (CPUs without VNNI).
    Returns the copy and the names of the convolutions it quantized (none when INC already did).
    """
    if correction not in CORRECTIONS:
        raise ValueError(f"correction {correction!r}: expected one of {', '.join(CORRECTIONS)}")
    out = onnx.ModelProto()
    out.CopyFrom(model)
    graph = out.graph
    inits = {i.name: i for i in graph.initializer}
    targets = set(input_convs(model))
    image_q: dict[str, str] = {}  # graph input -> its dequantized tensor
    added: list[onnx.NodeProto] = []
    done: list[str] = []
    moments: dict[tuple[str, ConvGeometry], PatchMoments] = {}  # per image input and window
    for node in graph.node:
        if (node.name not in targets or len(node.input) < 2 or node.input[1] not in inits
                or (len(node.input) > 2 and node.input[2] and node.input[2] not in inits)):
            continue  # quantized already (its weights or bias come from a DequantizeLinear)
        image = node.input[0]
        if image not in image_q:
            scale, zero = f"{image}_scale", f"{image}_zero_point"
            graph.initializer.extend([numpy_helper.from_array(np.array(IMAGE_SCALE, np.float32), scale),
                                      numpy_helper.from_array(np.array(0, np.uint8), zero)])
            added += [helper.make_node("QuantizeLinear", [image, scale, zero], [f"{image}_quantized"],
                                       name=f"{image}_QuantizeLinear"),
                      helper.make_node("DequantizeLinear", [f"{image}_quantized", scale, zero],
                                       [f"{image}_dequantized"], name=f"{image}_DequantizeLinear")]
            image_q[image] = f"{image}_dequantized"
        w_name = node.input[1]
        weight = numpy_helper.to_array(inits[w_name])
        geometry = _geometry(node, weight.shape[2:])
        these = None
        if correction != "none" and geometry is None:
            log.info("quantize: %s has groups or automatic padding: its weights are rounded to nearest", node.name)
        elif correction != "none":
            if (image, geometry) not in moments:
                moments[(image, geometry)] = patch_moments(images, geometry)
            these = moments[(image, geometry)]
        q, scale = _weights(weight, reduce_range, these if correction == "rounding" else None)
        error = q.astype(np.float32) * scale.reshape(-1, *(1,) * (weight.ndim - 1)) - weight
        old_bias = numpy_helper.to_array(inits[node.input[2]]) if len(node.input) > 2 and node.input[2] else None
        b_name = f"{node.name}_corrected_bias"
        graph.initializer.append(numpy_helper.from_array(_corrected_bias(old_bias, error, these), b_name))
        graph.initializer.extend([numpy_helper.from_array(q, f"{w_name}_quantized"),
                                  numpy_helper.from_array(scale, f"{w_name}_scale"),
                                  numpy_helper.from_array(np.zeros(len(scale), np.int8), f"{w_name}_zero_point")])
        added.append(helper.make_node("DequantizeLinear",
                                      [f"{w_name}_quantized", f"{w_name}_scale", f"{w_name}_zero_point"],
                                      [f"{w_name}_dequantized"], name=f"{w_name}_DequantizeLinear", axis=0))
        node.input[0], node.input[1] = image_q[image], f"{w_name}_dequantized"
        if len(node.input) > 2:
            node.input[2] = b_name
        else:
            node.input.append(b_name)
        done.append(node.name)
    if not done:
        return out, done
    nodes = added + list(graph.node)
    read = {name for node in nodes for name in node.input}
    kept = [i for i in graph.initializer if i.name in read]  # the float weights and bias replaced go
    del graph.initializer[:]
    graph.initializer.extend(kept)  # the new nodes read only graph inputs and initializers: first is topological
    del graph.node[:]
    graph.node.extend(nodes)
    return out, done
