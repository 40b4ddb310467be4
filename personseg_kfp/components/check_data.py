"""Check data: every parameter and dataset checked, the dataset fingerprinted, and whether this run trains at all.

Never cached. It takes every pipeline parameter, so a typo or a broken dataset ends the run here,
before anything trains or is published (``personseg.steps.check_data``).
"""

from kfp import dsl
from kfp.dsl import Markdown, Output

from personseg_kfp.components import STEP_IMAGE


@dsl.component(base_image=STEP_IMAGE, install_kfp_package=False)
def check_data(dataset_uri: str, extra_train_uri: str, extra_val_uri: str, image_size: int, width: int, epochs: int,
               composite: float, photometric: float, background_hue: float, backgrounds: str, seed: int,
               swap_design: str, swap_epochs: int, calibration_size: int, candidates: str, tolerable_iou_loss: float,
               min_speedup: float, min_iou: float, extra_eval_uri: str, min_extra_iou: float, model_name: str,
               deploy_target: str, namespace: str, eval_rounds: int, force_retrain: bool, train_nodes: int,
               train_gpus: int, s3_endpoint: str, minio_secret: str, serving_secret: str, serving_min_replicas: int,
               serving_max_replicas: int, serving_cpu_request: str, serving_cpu_limit: str, serving_memory_request: str,
               serving_memory_limit: str, serving_image: str, report: Output[Markdown]) -> str:
    """The retrain key ("" = no new data since the production model: nothing to train)."""
    params = dict(locals())
    del params["report"]
    from personseg.steps.check_data import check_data_step

    result = check_data_step(params)
    with open(report.path, "w") as fh:
        fh.write(result.markdown)
    return result.key
