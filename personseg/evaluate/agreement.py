"""Which model each evaluated model's masks are compared with: the FP32 model of the same network.

"Agreement" is how far a model drifts from the FP32 version of itself (quantization error, export
error), so the reference is chosen by architecture, never by position in the list:

* INT8: the FP32 ONNX model of its arch, else the FP32 PyTorch one, else none (``None``, shown "-");
* FP32 ONNX: the FP32 PyTorch model of its arch (export fidelity), else itself;
* FP32 PyTorch: itself (1.0).

Among several candidates of one arch, the one the model records as its ``source`` wins, else the first.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

from personseg.modeldir import ModelInfo


def network_key(info: ModelInfo) -> str:
    """The model's own ``arch`` as a canonical string.

    Not ``source.arch``: a swapped model records its seed there, a different network.
    """
    return json.dumps(info.arch, sort_keys=True)


def _pick(i: int, infos: Sequence[ModelInfo], uris: Sequence[str], kind: str) -> int | None:
    """The FP32 model of ``kind`` with the same network as model ``i`` (its recorded source first)."""
    key = network_key(infos[i])
    found = [j for j, m in enumerate(infos) if j != i and m.kind == kind and m.precision == "fp32"
             and network_key(m) == key]
    source = infos[i].extra.get("source")
    source_uri = str(source.get("uri")) if isinstance(source, dict) else None
    recorded = [j for j in found if source_uri in (uris[j], str(infos[j].path))]
    return (recorded or found or [None])[0]


def references(infos: Sequence[ModelInfo], uris: Sequence[str]) -> list[int | None]:
    """For each model, the index of the model its agreement IoU is measured against (itself, or None)."""
    refs: list[int | None] = []
    for i, info in enumerate(infos):
        if info.precision == "int8":
            ref = _pick(i, infos, uris, "onnx")
            refs.append(ref if ref is not None else _pick(i, infos, uris, "torch"))
        elif info.kind == "onnx":
            ref = _pick(i, infos, uris, "torch")
            refs.append(i if ref is None else ref)
        else:
            refs.append(i)
    return refs


def onnx_fp32_of(infos: Sequence[ModelInfo], uris: Sequence[str]) -> list[int | None]:
    """For each model, the index of the FP32 ONNX model of its own network (itself for one), or None.

    The reference of ``speedup_vs_onnx_fp32``: an INT8 model's is the one ``references`` compares it with.
    """
    return [i if info.kind == "onnx" and info.precision == "fp32" else _pick(i, infos, uris, "onnx")
            for i, info in enumerate(infos)]
