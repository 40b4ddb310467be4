"""Train: the bilinear U-Net, best checkpoint on validation IoU."""

from kfp import dsl
from kfp.dsl import Dataset, Input, Metrics, Model, Output

from personseg_kfp.components import STEP_IMAGE


@dsl.component(base_image=STEP_IMAGE, install_kfp_package=False)
def train(data: Input[Dataset], image_size: int, width: int, epochs: int, model: Output[Model],
          metrics: Output[Metrics]):
    """Train and save the FP32 bilinear model; per-epoch state stays out of the artifact store."""
    import tempfile

    from personseg.training.step import TrainConfig, run

    with tempfile.TemporaryDirectory(prefix="personseg-train-") as ckpt:
        result = run(TrainConfig(data=data.path, size=image_size, width=width, epochs=epochs), model.path,
                     checkpoint_dir=ckpt)
    metrics.log_metric("val_iou", result.best_val_iou)
    metrics.log_metric("best_epoch", result.best_epoch)
