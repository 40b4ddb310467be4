"""Quantize: each network the candidates name to INT8 once, onto each runtime, with its FP32 ONNX for comparison."""

from kfp import dsl
from kfp.dsl import Dataset, Input, Metrics, Model, Output

from personseg_kfp.components import STEP_IMAGE


@dsl.component(base_image=STEP_IMAGE, install_kfp_package=False)
def quantize(data: Input[Dataset], bilinear: Input[Model], swapped: Input[Model], candidate_names: str,
             calibration_size: int, tolerable_iou_loss: float, candidates: Output[Model], metrics: Output[Metrics]):
    """One ``candidates`` artifact: a saved model per candidate, FP32 ONNX per network, ``candidates.json``."""
    from personseg.steps.quantize import CandidatesConfig, quantize_candidates, scalar_metrics

    index = quantize_candidates({"bilinear": bilinear.path, "swapped": swapped.path}, CandidatesConfig(
        candidates=candidate_names, data=data.path, calibration=calibration_size,
        tolerable_iou_loss=tolerable_iou_loss), candidates.path)
    for key, value in scalar_metrics(index).items():
        metrics.log_metric(key, value)
