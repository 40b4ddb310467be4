"""Ingest: the pipeline's ``dataset_uri`` (demo, synthetic:N, folder, s3://) as a ``Dataset`` artifact."""

from kfp import dsl
from kfp.dsl import Dataset, Output

from personseg_kfp.components import STEP_IMAGE


@dsl.component(base_image=STEP_IMAGE, install_kfp_package=False)
def ingest(dataset_uri: str, retrain_key: str, image_size: int, s3_endpoint: str, data: Output[Dataset],
           extra_train_uri: str = "", extra_val_uri: str = ""):
    """Materialize the dataset (plus ``extra_train_uri`` in train, ``extra_val_uri`` in val) at the run's size.

    ``retrain_key`` (the data's fingerprint) is the cache key.
    """
    from personseg.steps.ingest import materialize
    from personseg.steps.storage_env import use_endpoint

    use_endpoint(s3_endpoint)
    materialize(dataset_uri, data.path, image_size, extra_train_uri, extra_val_uri)
    data.metadata["uri"] = dataset_uri
    data.metadata["extra_train_uri"] = extra_train_uri
    data.metadata["extra_val_uri"] = extra_val_uri
    data.metadata["retrain_key"] = retrain_key
