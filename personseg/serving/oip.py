"""Open Inference Protocol v2 (KServe) JSON: validate inference requests, build responses and metadata.

The model takes one FP32 tensor ``input`` of shape [N, 3, S, S] (RGB in [0, 1], letterboxed) and
returns ``probabilities`` [N, 1, S, S]. Every malformed request is a ``RequestError`` that says which
field is wrong and what was expected.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from personseg import __version__
from personseg.serving.bounded_json import load_json
from personseg.serving.errors import RequestError

INPUT_NAME = "input"
OUTPUT_NAME = "probabilities"
DATATYPE = "FP32"
NUMBER_TYPES = frozenset({int, float})  # exactly: a JSON true is a bool, which is an int subclass
# The longest a value in [0, 1] is written by common clients, separator included. They all send the
# float32 tensor as Python floats (``tolist()``, or ``[v.item() for v in x.flatten()]`` in the KServe SDK's
# ``InferInput.set_data_from_numpy(binary_data=False)`` and tritonclient's, which is the same code), in
# the shortest text that reads back: up to 17 significant digits. Python's ``json`` writes 1.2e-05 as
# "1.2345678901234567e-05" (22) and adds ", " (24); orjson (the KServe SDK's ``InferenceRESTClient``)
# writes it as "0.000012345678901234567" (23) and adds "," (24); rapidjson (tritonclient.http) stays at 23.
JSON_BYTES_PER_VALUE = 24
JSON_BYTES_PER_LIST = 4  # a nested list's "[", "]" and the ", " after it
JSON_ENVELOPE_BYTES = 65536  # names, shape, id, parameters around the data


@dataclass(frozen=True)
class InferRequest:
    """A validated v2 request: the batch and the id to echo back."""

    id: str | None
    batch: np.ndarray  # (N, 3, S, S) float32


def _bad(message: str) -> RequestError:
    return RequestError(message, kind="bad_tensor")


def _reject_constant(name: str) -> float:
    raise _bad(f"inputs[0].data: {name} is not a valid FP32 value here")


def server_metadata() -> dict[str, Any]:
    """``GET /v2``."""
    return {"name": "personseg", "version": __version__, "extensions": []}


# "<runtime>_<format>" as Triton names platforms: it says which runtime runs the model.
PLATFORMS = {("onnx", "onnxruntime"): "onnxruntime_onnx", ("onnx", "openvino"): "openvino_onnx",
             ("openvino", "openvino"): "openvino_ir", ("torch", "torch"): "pytorch_safetensors"}


def model_metadata(name: str, version: str, image_size: int, kind: str, runtime: str) -> dict[str, Any]:
    """``GET /v2/models/<name>``; -1 marks the variable batch dimension; ``platform`` names the runtime."""
    return {
        "name": name,
        "versions": [version],
        "platform": PLATFORMS.get((kind, runtime), f"{runtime}_{kind}"),
        "inputs": [{"name": INPUT_NAME, "datatype": DATATYPE, "shape": [-1, 3, image_size, image_size]}],
        "outputs": [{"name": OUTPUT_NAME, "datatype": DATATYPE, "shape": [-1, 1, image_size, image_size]}],
    }


def max_request_bytes(image_size: int, max_batch: int) -> int:
    """Largest JSON body worth reading: ``max_batch`` images as common clients write them, nested or flat."""
    values = max_batch * 3 * image_size * image_size
    lists = 1 + max_batch * (1 + 3 + 3 * image_size)  # [N][3][S][S] nesting, as ``tolist()`` gives
    return values * JSON_BYTES_PER_VALUE + lists * JSON_BYTES_PER_LIST + JSON_ENVELOPE_BYTES


def parse_infer(body: bytes, image_size: int) -> InferRequest:
    """Validate a v2 inference request body against the model's input."""
    req = load_json(body, "request body", parse_constant=_reject_constant)
    if not isinstance(req, dict):
        raise _bad("request body must be a JSON object with an 'inputs' list")
    req_id = req.get("id")
    if req_id is not None and not isinstance(req_id, str):
        raise _bad(f"'id' must be a string, got {type(req_id).__name__}")
    inputs = req.get("inputs")
    if not isinstance(inputs, list) or len(inputs) != 1 or not isinstance(inputs[0], dict):
        raise _bad(f"'inputs' must be a list with exactly one tensor object named {INPUT_NAME!r}")
    _check_outputs(req.get("outputs"))
    return InferRequest(req_id, _tensor(inputs[0], image_size))


def _check_outputs(outputs: Any) -> None:
    if outputs is None:
        return
    if not isinstance(outputs, list) or not all(isinstance(o, dict) for o in outputs):
        raise _bad("'outputs' must be a list of objects with a 'name'")
    for i, out in enumerate(outputs):
        if out.get("name") != OUTPUT_NAME:
            raise _bad(f"outputs[{i}].name is {out.get('name')!r}; this model has only {OUTPUT_NAME!r}")


def _tensor(spec: dict[str, Any], size: int) -> np.ndarray:
    name, datatype, shape, data = spec.get("name"), spec.get("datatype"), spec.get("shape"), spec.get("data")
    if name != INPUT_NAME:
        raise _bad(f"inputs[0].name is {name!r}; this model's input is {INPUT_NAME!r}")
    if datatype != DATATYPE:
        raise _bad(f"inputs[0].datatype is {datatype!r}; this model takes {DATATYPE}")
    if (not isinstance(shape, list) or len(shape) != 4
            or not all(isinstance(d, int) and not isinstance(d, bool) for d in shape)):
        raise _bad(f"inputs[0].shape is {shape!r}; expected [N, 3, {size}, {size}]")
    if shape[0] < 1 or shape[1:] != [3, size, size]:
        raise _bad(f"inputs[0].shape is {shape}; expected [N, 3, {size}, {size}] with N >= 1")
    if not isinstance(data, list):
        raise _bad("inputs[0].data must be a JSON array of numbers (flat or nested)")
    others = sorted(t.__name__ for t in _leaf_types(data) - NUMBER_TYPES)
    if others:  # numpy would read true as 1.0 and "0.5" as 0.5
        raise _bad(f"inputs[0].data must hold only numbers, in a flat or regularly nested array (found "
                   f"{', '.join('string' if t == 'str' else t for t in others)})")
    try:
        array = np.asarray(data, dtype=np.float32)
    except (ValueError, TypeError):
        raise _bad("inputs[0].data must hold only numbers, in a flat or regularly nested array") from None
    except OverflowError:  # an integer literal too large for any float
        raise _bad("inputs[0].data must be finite values in [0, 1] (RGB / 255); an integer is out of range") from None
    expected = math.prod(shape)
    if array.size != expected:
        raise _bad(f"inputs[0].data has {array.size} values; shape {shape} needs {expected}")
    if array.ndim not in (1, 4) or (array.ndim == 4 and list(array.shape) != shape):
        raise _bad(f"inputs[0].data is nested as {list(array.shape)}; give it flat or as {shape}")
    if not np.isfinite(array).all() or array.min() < 0.0 or array.max() > 1.0:
        raise _bad("inputs[0].data must be finite values in [0, 1] (RGB / 255)")
    return array.reshape(shape)


def _leaf_types(data: list) -> set[type]:
    """The Python types of the values at the bottom of a (possibly nested) JSON array."""
    if data and type(data[0]) is list:
        return set().union(*(_leaf_types(x) if type(x) is list else {type(x)} for x in data))
    return set(map(type, data))


def infer_response(model_name: str, req_id: str | None, probabilities: np.ndarray) -> bytes:
    """The v2 response body, serialised here (in a worker thread) rather than by the web framework."""
    out = {
        "model_name": model_name,
        "outputs": [{
            "name": OUTPUT_NAME,
            "shape": list(probabilities.shape),
            "datatype": DATATYPE,
            "data": probabilities.astype(np.float32).ravel().tolist(),
        }],
    }
    if req_id is not None:
        out["id"] = req_id
    return json.dumps(out, separators=(",", ":")).encode()
