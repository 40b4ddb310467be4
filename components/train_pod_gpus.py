"""The train_pod_gpus step (``personseg_kfp.components.train_pod_gpus``)."""

from personseg_kfp.components.train_pod_gpus import train_pod_gpus  # noqa: F401
