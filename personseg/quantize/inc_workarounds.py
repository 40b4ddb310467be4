"""Work-arounds for Intel Neural Compressor (ONNX flavour, 1.0) bugs, all in this one place.

Each has a test (tests/test_quantize_inc_bugs.py) that fails once the bug is fixed upstream, so it can go.

1. ``StaticQuantConfig(reduce_range=True)`` is not passed on to ``StaticQuantizer`` by
   ``static_quantize_entry``, so weights use the full int8 range. On CPUs without VNNI, ONNX Runtime's
   u8s8 kernels (VPMADDUBSW) can saturate with full-range weights and masks drift.
   ``honour_reduce_range`` passes the flag through.
2. ``tuning.autotune`` calls ``exit(0)`` when no configuration meets the tolerance (and when the
   baseline evaluation fails). ``autotune_or_raise`` turns that into a clear error.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

from personseg.errors import UserError


@contextlib.contextmanager
def honour_reduce_range(reduce_range: bool) -> Iterator[None]:
    """Within the block, INC's static quantizer uses ``reduce_range`` (work-around 1)."""
    from onnx_neural_compressor.quantization import algorithm_entry

    original = algorithm_entry.quantizer.StaticQuantizer

    class Patched(original):  # type: ignore[misc, valid-type]
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            kwargs["reduce_range"] = reduce_range
            super().__init__(*args, **kwargs)

    algorithm_entry.quantizer.StaticQuantizer = Patched
    try:
        yield
    finally:
        algorithm_entry.quantizer.StaticQuantizer = original


def autotune_or_raise(**kwargs: Any) -> Any:
    """``tuning.autotune`` that raises UserError instead of exiting the process (work-around 2)."""
    from onnx_neural_compressor.quantization import tuning

    try:
        result = tuning.autotune(**kwargs)
    except SystemExit:
        result = None
    if result is None:
        tol = kwargs["tune_config"].tolerable_loss
        raise UserError(
            f"quantize: no INT8 configuration met --tolerable-loss {tol} (INC autotune tried "
            f"{kwargs['tune_config'].max_trials} at most); raise the tolerance or calibrate on more images"
        )
    return result
