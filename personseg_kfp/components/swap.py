"""Swap: bilinear decoder -> transposed convolutions, then a short distilled fine-tune."""

from kfp import dsl
from kfp.dsl import Dataset, Input, Metrics, Model, Output

from personseg_kfp.components import STEP_IMAGE


@dsl.component(base_image=STEP_IMAGE, install_kfp_package=False)
def swap(data: Input[Dataset], bilinear: Input[Model], design: str, epochs: int, model: Output[Model],
         metrics: Output[Metrics], seed: int = 0):
    """Swap the decoder of ``bilinear`` and save the FP32 swapped model."""
    from personseg.swap.config import parse_design
    from personseg.swap.step import SwapConfig, run

    report = run(SwapConfig(model=bilinear.path, data=data.path, **parse_design(design), epochs=epochs, seed=seed),
                 model.path)
    for key in ("val_iou_bilinear", "val_iou_swapped_initial", "val_iou_swapped"):
        metrics.log_metric(key, report[key])
