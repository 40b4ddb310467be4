"""Check data: fingerprint the dataset and decide whether this run trains at all (never cached)."""

from kfp import dsl
from kfp.dsl import Markdown, Output

from personseg_kfp.components import STEP_IMAGE


@dsl.component(base_image=STEP_IMAGE, install_kfp_package=False)
def check_data(dataset_uri: str, extra_train_uri: str, image_size: int, width: int, epochs: int, composite: float,
               photometric: float, background_hue: float, backgrounds: str, seed: int, swap_design: str,
               swap_epochs: int, calibration_size: int, tolerable_iou_loss: float, candidates: str, model_name: str,
               force_retrain: bool, s3_endpoint: str, report: Output[Markdown], extra_eval_uri: str = "",
               extra_val_uri: str = "") -> str:
    """The retrain key ("" = no new data since the production model: nothing to train).

    ``candidates``, ``backgrounds``, ``extra_train_uri`` and ``extra_val_uri`` are validated here, so a typo (or
    training or choosing the epoch on the images that are scored) fails the run before anything trains.
    """
    from personseg.data.extra_train import check_extra_sets
    from personseg.data.scenes import check_backgrounds
    from personseg.pipeline_logic.candidates import canonical
    from personseg.pipeline_logic.retrain import check_retrain
    from personseg.pipeline_logic.storage_env import use_endpoint

    use_endpoint(s3_endpoint)
    check_backgrounds(backgrounds)
    check_extra_sets(extra_train_uri, dataset_uri, extra_eval_uri, extra_val_uri)
    recipe = {"image_size": image_size, "width": width, "epochs": epochs, "composite": composite,
              "photometric": photometric, "background_hue": background_hue,
              "backgrounds": backgrounds, "seed": seed, "swap_design": swap_design,
              "swap_epochs": swap_epochs, "calibration_size": calibration_size,
              "tolerable_iou_loss": tolerable_iou_loss, "candidates": canonical(candidates)}
    result = check_retrain(dataset_uri, recipe, model_name, force_retrain, extra_train_uri, extra_val_uri)
    with open(report.path, "w") as fh:
        fh.write(result.markdown)
    return result.key
