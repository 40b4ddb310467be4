"""Train pod GPUs: how many GPUs the train task's own pod requests (none when it only launches a TrainJob)."""

from kfp import dsl

from personseg_kfp.components import STEP_IMAGE


@dsl.component(base_image=STEP_IMAGE, install_kfp_package=False)
def train_pod_gpus(train_nodes: int, train_gpus: int) -> str:
    """``train_gpus`` for one node (the pod trains), "0" for more (the pod waits on a TrainJob)."""
    from personseg.steps.train_pod_gpus import train_pod_gpus as pod_gpus

    return pod_gpus(train_nodes, train_gpus)
