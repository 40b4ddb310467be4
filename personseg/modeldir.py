"""The saved-model directory: the one format every step, the registry and the server agree on.

A saved model is a directory holding ``config.json`` (what it is and how to feed it), the weights
file it names (``model.safetensors`` for PyTorch, ``model.onnx`` for ONNX, ``model.xml`` beside
``model.bin`` for OpenVINO IR) and usually ``metrics.json``. ``runtime`` says what runs it; cards
written before that field existed get the runtime of their kind. Reading it needs no runtime library.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from personseg.errors import UserError

CONFIG = "config.json"
METRICS = "metrics.json"
STATE_FILE = "train_state.pt"  # resumes training (``train --resume``); not part of the model, never published
FORMAT_VERSION = 1
KINDS = ("torch", "onnx", "openvino")
PRECISIONS = ("fp32", "int8")
RUNTIMES = ("torch", "onnxruntime", "openvino")
# The runtime a card without a ``runtime`` field means, and which runtimes can run each kind.
DEFAULT_RUNTIME = {"torch": "torch", "onnx": "onnxruntime", "openvino": "openvino"}
RUNTIMES_OF_KIND = {"torch": ("torch",), "onnx": ("onnxruntime", "openvino"), "openvino": ("openvino",)}


@dataclass(frozen=True)
class ModelInfo:
    """What ``config.json`` says about a saved model.

    Inputs are RGB float32 NCHW in [0, 1] at ``image_size`` (letterboxed); the output is one logit
    per pixel, shape (N, 1, image_size, image_size).
    """

    path: Path
    kind: str
    precision: str
    weights: str
    image_size: int
    arch: dict[str, Any]
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def weights_path(self) -> Path:
        """Absolute path of the weights file."""
        return self.path / self.weights

    @property
    def runtime(self) -> str:
        """What runs the model: the card's ``runtime``, else the default of its ``kind``."""
        return self.extra.get("runtime") or DEFAULT_RUNTIME[self.kind]

    @property
    def name(self) -> str:
        """A short display name such as ``unet-swapped-lean2-w32-int8`` or ``unet-pruned-prune50-w32-fp32``."""
        arch = self.arch
        variant = arch.get("decoder") or arch.get("design", "")
        if "ratio" in arch:
            variant = f"prune{round(float(arch['ratio']) * 100)}"
        elif variant == "lean":
            variant += str(arch.get("squeeze", ""))
        return f"{arch.get('name', 'model')}-{variant}-w{arch.get('width', '')}-{self.precision}"


def write_config(
    directory: str | Path,
    *,
    kind: str,
    precision: str,
    weights: str,
    image_size: int,
    arch: dict[str, Any],
    extra: dict[str, Any] | None = None,
    runtime: str | None = None,
) -> Path:
    """Write ``config.json`` into ``directory`` and return its path (``runtime``: the kind's default)."""
    runtime = runtime or DEFAULT_RUNTIME.get(kind, "")
    if kind not in KINDS or precision not in PRECISIONS or runtime not in RUNTIMES_OF_KIND[kind]:
        raise ValueError(f"kind must be one of {KINDS}, precision one of {PRECISIONS} and runtime one of "
                         f"{RUNTIMES_OF_KIND.get(kind, RUNTIMES)}")
    data = {
        "personseg_model": FORMAT_VERSION,
        "kind": kind,
        "runtime": runtime,
        "precision": precision,
        "weights": weights,
        "image_size": int(image_size),
        "arch": arch,
        "input": {"layout": "NCHW", "dtype": "float32", "channels": "RGB", "range": [0, 1], "resize": "letterbox"},
        "output": "logits",
        **(extra or {}),
    }
    path = Path(directory) / CONFIG
    path.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")
    return path


def read_model_dir(directory: str | Path) -> ModelInfo:
    """Validate and read a saved-model directory; every problem names the file and field."""
    directory = Path(directory)
    cfg_path = directory / CONFIG
    if not directory.is_dir():
        raise UserError(f"model {directory}: not a directory")
    if not cfg_path.is_file():
        raise UserError(f"model {directory}: no {CONFIG}; not a personseg saved model")
    try:
        data = json.loads(cfg_path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise UserError(f"{cfg_path}: not valid JSON ({exc})") from None
    if not isinstance(data, dict) or data.get("personseg_model") != FORMAT_VERSION:
        raise UserError(f"{cfg_path}: field 'personseg_model' must be {FORMAT_VERSION}; not a personseg model config")
    for key, allowed in (("kind", KINDS), ("precision", PRECISIONS)):
        if data.get(key) not in allowed:
            raise UserError(f"{cfg_path}: field '{key}' is {data.get(key)!r}, expected one of {', '.join(allowed)}")
    runtime = data.get("runtime", DEFAULT_RUNTIME[data["kind"]])
    if runtime not in RUNTIMES:
        raise UserError(f"{cfg_path}: field 'runtime' is {runtime!r}, expected one of {', '.join(RUNTIMES)}")
    check_runtime(data["kind"], runtime, f"{cfg_path}: field 'runtime'")
    size = data.get("image_size")
    if not isinstance(size, int) or size < 16 or size % 16:
        raise UserError(f"{cfg_path}: field 'image_size' is {size!r}, expected a multiple of 16")
    arch = data.get("arch")
    if not isinstance(arch, dict):
        raise UserError(f"{cfg_path}: field 'arch' must be an object")
    weights = data.get("weights")
    if not isinstance(weights, str) or "/" in weights or weights.startswith("."):
        raise UserError(f"{cfg_path}: field 'weights' must be a file name in the model directory")
    if not (directory / weights).is_file():
        raise UserError(f"model {directory}: weights file {weights} named in {CONFIG} is missing")
    if data["kind"] == "openvino":
        if not weights.endswith(".xml"):
            raise UserError(f"{cfg_path}: field 'weights' is {weights!r}; an OpenVINO model names its .xml file")
        if not (directory / weights).with_suffix(".bin").is_file():
            raise UserError(f"model {directory}: {Path(weights).with_suffix('.bin')} (the weights beside {weights}) "
                            "is missing")
    known = {"personseg_model", "kind", "precision", "weights", "image_size", "arch"}
    extra = {k: v for k, v in data.items() if k not in known}
    return ModelInfo(directory, data["kind"], data["precision"], weights, size, arch, extra)


def check_runtime(kind: str, runtime: str, where: str) -> None:
    """Raise ``UserError`` (prefixed by ``where``) unless ``runtime`` can run a model of ``kind``."""
    if runtime not in RUNTIMES_OF_KIND[kind]:
        pairs = ", ".join(f"{k}/{r}" for k, rs in RUNTIMES_OF_KIND.items() for r in rs)
        raise UserError(f"{where} is {runtime!r} but the model's kind is {kind!r}, which {runtime} cannot run; "
                        f"valid kind/runtime pairs: {pairs}")


def read_metrics(directory: str | Path) -> dict[str, Any]:
    """``metrics.json`` of a saved model, or an empty dict when it has none."""
    path = Path(directory) / METRICS
    if not path.is_file():
        return {}
    return json.loads(path.read_text())
