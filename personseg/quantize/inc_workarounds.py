"""Work-arounds for Intel Neural Compressor (ONNX flavour, 1.0) bugs, all in this one place.

Each has a test (tests/test_quantize_inc_bugs.py) that fails once the bug is fixed upstream, so it can go.

1. ``StaticQuantConfig(reduce_range=True)`` is not passed on to ``StaticQuantizer`` by
   ``static_quantize_entry``, so weights use the full int8 range. On CPUs without VNNI, ONNX Runtime's
   u8s8 kernels (VPMADDUBSW) can saturate with full-range weights and masks drift.
   ``honour_reduce_range`` passes the flag through.
2. ``tuning.autotune`` calls ``exit(0)`` when no configuration meets the tolerance (and when the
   baseline evaluation fails). ``autotune_or_raise`` turns that into a clear error.
3. ``tuning.autotune`` stops at ``max_trials`` and returns the last trial's model even when it misses
   ``tolerable_loss``. ``autotune_or_raise`` records every evaluation and refuses such a model.
4. INC builds its own ``onnxruntime.SessionOptions()`` (calibration, tuning's graph optimisation) and
   never sets a thread count, so ONNX Runtime uses every core of the node whatever the pod's CPU
   quota. ``inc_threads`` makes the options built within the block carry ours.
5. INC's own QDQ quantizer registers ``DepthToSpace`` (and ``SpaceToDepth``) as a direct 8-bit op
   (``Direct8BitOperator``) and ONNX Runtime runs it on uint8, but ``constants.STATIC_QDQ_CPU_OP_LIST``
   (which ``StaticQuantConfig`` checks ``op_types_to_quantize`` against) and ``STATIC_QOPERATOR_CPU_OP_LIST``
   (the default white list of ``get_model_info``) leave it out, so it cannot be asked for and the sub-pixel
   upsampler drags its neighbours back to FP32. ``extra_op_types`` adds it to both lists within the block.
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


@contextlib.contextmanager
def inc_threads(threads: int) -> Iterator[None]:
    """Within the block, ONNX Runtime sessions INC creates run ``threads`` threads (work-around 4)."""
    import onnxruntime

    original = onnxruntime.SessionOptions

    class Pinned(original):  # type: ignore[misc, valid-type]
        def __init__(self) -> None:
            super().__init__()
            self.intra_op_num_threads = threads
            self.add_session_config_entry("session.intra_op.allow_spinning", "0")

    onnxruntime.SessionOptions = Pinned
    try:
        yield
    finally:
        onnxruntime.SessionOptions = original


@contextlib.contextmanager
def extra_op_types(op_types: tuple[str, ...]) -> Iterator[None]:
    """Within the block, INC accepts ``op_types`` in ``op_types_to_quantize`` (work-around 5)."""
    from onnx_neural_compressor import constants

    # in place: config.py's default arguments hold these very list objects
    lists = [constants.STATIC_QDQ_CPU_OP_LIST, constants.STATIC_QOPERATOR_CPU_OP_LIST]
    added = [(op_list, op) for op_list in lists for op in op_types if op not in op_list]
    for op_list, op in added:
        op_list.append(op)
    try:
        yield
    finally:
        for op_list, op in added:
            op_list.remove(op)


def autotune_or_raise(absolute_loss: float | None = None, **kwargs: Any) -> Any:
    """``tuning.autotune`` that raises UserError instead of exiting the process (work-around 2).

    ``absolute_loss`` is the user's tolerance in IoU points, named in the error (INC's is relative).
    """
    from onnx_neural_compressor.quantization import tuning

    scores: list[float] = []
    eval_fn = kwargs["eval_fn"]

    def recording_eval(model_path: str) -> float:
        scores.append(float(eval_fn(model_path)))
        return scores[-1]

    try:
        result = tuning.autotune(**{**kwargs, "eval_fn": recording_eval})
    except SystemExit:
        result = None
    tol = kwargs["tune_config"].tolerable_loss
    met = len(scores) > 1 and scores[-1] >= scores[0] * (1 - tol)
    if result is None or not met:
        found = f"; best INT8 score {max(scores[1:]):.4f} vs FP32 {scores[0]:.4f}" if len(scores) > 1 else ""
        asked = f"--tolerable-iou-loss {absolute_loss} (INC relative loss {tol:.4g})" if absolute_loss is not None \
            else f"INC relative loss {tol:.4g}"
        raise UserError(
            f"quantize: no INT8 configuration met {asked} (INC autotune tried "
            f"{len(scores) - 1} of at most {kwargs['tune_config'].max_trials}){found}; raise the tolerance or "
            "calibrate on more images"
        )
    return result
