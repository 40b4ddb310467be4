"""Train: the bilinear U-Net, best checkpoint on validation IoU; in this pod, or across machines as a TrainJob."""

from kfp import dsl
from kfp.dsl import Dataset, Input, Metrics, Model, Output

from personseg_kfp.components import STEP_IMAGE


@dsl.component(base_image=STEP_IMAGE, install_kfp_package=False)
def train(data: Input[Dataset], image_size: int, width: int, epochs: int, model: Output[Model],
          metrics: Output[Metrics], composite: float = 0.0, photometric: float = 0.0, background_hue: float = 0.0,
          backgrounds: str = "", seed: int = 0,
          train_nodes: int = 1,
          train_gpus: int = 0, image: str = "",
          s3_endpoint: str = "", minio_secret: str = "", access_key_field: str = "accesskey",
          secret_key_field: str = "secretkey", run_id: str = "", retrain_key: str = ""):
    """Train and save the FP32 bilinear model; ``train_nodes > 1`` trains on a Kubeflow Trainer TrainJob.

    ``run_id`` and ``retrain_key`` name where each epoch's state goes, so a retried task resumes.
    """
    from personseg.steps.train import Nodes, train_step
    from personseg.storage.access import S3Access
    from personseg.training.step import TrainConfig

    cfg = TrainConfig(data=data.path, size=image_size, width=width, epochs=epochs, composite=composite,
                      photometric=photometric, background_hue=background_hue, backgrounds=backgrounds,
                      seed=seed)
    result = train_step(cfg, model.path,
                        Nodes(train_nodes, train_gpus, image,
                              S3Access(s3_endpoint, minio_secret, access_key_field, secret_key_field)),
                        run_id, retrain_key)
    metrics.log_metric("val_iou", result.best_val_iou)
    metrics.log_metric("best_epoch", result.best_epoch)
