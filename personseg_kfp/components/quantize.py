"""Quantize: the swapped FP32 model to INT8 ONNX, plus its FP32 ONNX export for comparison."""

from kfp import dsl
from kfp.dsl import Dataset, Input, Metrics, Model, Output

from personseg_kfp.components import STEP_IMAGE


@dsl.component(base_image=STEP_IMAGE, install_kfp_package=False)
def quantize(data: Input[Dataset], swapped: Input[Model], calibration_size: int, tolerable_iou_loss: float,
             int8: Output[Model], onnx_fp32: Output[Model], metrics: Output[Metrics]):
    """INT8 with accuracy-aware tuning and the FP32-agreement gate; FP32 ONNX of the same network."""
    from personseg.quantize.step import QuantizeConfig, export, run

    result = run(QuantizeConfig(model=swapped.path, data=data.path, calibration=calibration_size,
                                tolerable_iou_loss=tolerable_iou_loss), int8.path)
    export(swapped.path, onnx_fp32.path)
    for key in ("tune_iou_fp32", "tune_iou_int8", "agreement_iou"):
        metrics.log_metric(key, result[key])
