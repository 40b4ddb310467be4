"""Where the train step runs: validate the node and GPU counts, and what its own pod requests.

Import-light (no torch), so the pipeline's small ``train_pod_gpus`` step starts in a second.
"""

from __future__ import annotations

from personseg.errors import UserError


def check_nodes(nodes: int, gpus: int) -> None:
    """Refuse a node or GPU count no cluster can give, naming the parameter."""
    if nodes < 1:
        raise UserError(f"train_nodes {nodes}: must be >= 1")
    if gpus < 0:
        raise UserError(f"train_gpus {gpus}: must be >= 0")


def check_ranks(batch_size: int, nodes: int, gpus: int) -> None:
    """Refuse a TrainJob whose ranks (one per GPU, or per node) would get under 2 images of the batch each."""
    if nodes <= 1:
        return  # one node trains in the step's own pod, on one rank
    from personseg.training.loop import MIN_RANK_BATCH, rank_batch  # torch: only when a TrainJob is asked for

    ranks = nodes * max(1, gpus)
    try:
        rank_batch(batch_size, ranks)
    except UserError:
        raise UserError(f"train_nodes {nodes} x train_gpus {gpus}: {ranks} ranks share a batch of {batch_size} "
                        f"images, under {MIN_RANK_BATCH} per rank, and BatchNorm needs {MIN_RANK_BATCH}: nothing "
                        f"would train; use at most {batch_size // MIN_RANK_BATCH} ranks") from None


def train_pod_gpus(nodes: int, gpus: int) -> str:
    """GPUs the train task's own pod asks for: ``gpus`` when it trains there, "0" when it launches a TrainJob.

    A string, because the KFP backend's driver reads a resource placeholder with ``GetStringValue``
    (``resolvePodSpecInputRuntimeParameter``, backend/src/v2/driver/util.go in 2.4.0 and 2.5.0,
    backend/src/v2/driver/resolve.go in 2.14.0 to 2.17.0): an integer parameter resolves to "" and the
    pod gets no GPU at all.
    """
    check_nodes(nodes, gpus)
    return str(gpus if nodes == 1 else 0)
