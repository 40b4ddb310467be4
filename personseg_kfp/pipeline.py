"""The person-segmentation pipeline: check data -> ingest -> train -> swap -> quantize -> evaluate -> deploy.

``candidates`` names the models competing for deployment (``network:runtime``, networks ``bilinear`` and
``swapped``): one quantize task builds them all, evaluate gates each against the FP32 ONNX of its own
network and against the seed (the trained bilinear network in FP32: within ``tolerable_iou_loss`` end to
end, and at least ``min_iou``), returns the fastest that passes, and deploy publishes that one.

Defaults give a sensible run on the committed demo dataset. ``check_data`` fingerprints the dataset
and ends the run ("no new data since version N") when the production model was trained on exactly
this data with this recipe; otherwise its key is ingest's cache key, so new data retrains everything
downstream (``force_retrain`` forces it). Steps that touch object storage read their S3 keys from a
Kubernetes Secret (``mlpipeline-minio-artifact`` unless ``minio_secret`` says otherwise) and retry;
check_data, evaluate and deploy are never cached, because the production model changes between runs.
The deploy step owns the served objects' endpoint, Secret and sizing (the ``serving_*`` parameters).

Training is one task, ``train``, on every path: with ``train_nodes == 1`` it trains in its own pod,
with more it creates a Kubeflow Trainer TrainJob for that many nodes (``train_gpus`` each) and waits
for it, the launcher pattern of Kubeflow's own ``pytorch-launcher`` component; so it always carries
the S3 Secret's keys. Its pod requests ``nvidia.com/gpu`` from the small ``train_pod_gpus`` task
before it: ``train_gpus`` when the pod trains, 0 when it only launches. One task means no
``dsl.OneOf`` over the model: KFP backends before 2.17.0 resolve an artifact ``OneOf`` to its last
selector whatever branch ran (``backend/src/v2/driver/driver.go`` ``resolveUpstreamArtifacts`` in
2.4.0 and 2.5.0, ``backend/src/v2/driver/resolve.go`` ``GetProducerTask`` in 2.14.0 to 2.16.1;
fixed by kubeflow/pipelines#13437 in 2.17.0), and kfp.local refuses one. ``personseg pipeline run
--local`` runs this same compiled graph (``personseg_kfp.local``).
"""

from collections.abc import Callable
from pathlib import Path
from typing import Any

from kfp import dsl, kubernetes

from personseg.deploy.config import DeployConfig
from personseg.evaluate.config import EvalConfig
from personseg.quantize.config import QuantizeConfig
from personseg.steps.candidates import DEFAULT as DEFAULT_CANDIDATES
from personseg.storage.access import S3Access
from personseg.swap.config import SwapConfig
from personseg.training.config import TrainConfig
from personseg_kfp.components import SERVING_IMAGE, STEP_IMAGE
from personseg_kfp.components.check_data import check_data
from personseg_kfp.components.deploy import deploy
from personseg_kfp.components.evaluate import evaluate
from personseg_kfp.components.ingest import ingest
from personseg_kfp.components.quantize import quantize
from personseg_kfp.components.swap import swap
from personseg_kfp.components.train import train
from personseg_kfp.components.train_pod_gpus import train_pod_gpus

PIPELINE_NAME = "person-segmentation"
PACKAGE_FILE = "person_segmentation.yaml"
# In a source checkout the compiled package is committed beside the thin pipelines/ entry point.
CHECKOUT_PACKAGE = Path(__file__).resolve().parents[1] / "pipelines" / PACKAGE_FILE
ACCESS_KEY_FIELD, SECRET_KEY_FIELD = S3Access().access_key_field, S3Access().secret_key_field
RETRIES = 2
# Each step's defaults come from its config, as the CLI's do: one set of defaults per step (a test compares).
TRAIN, SWAP, QUANTIZE = TrainConfig(data=""), SwapConfig(model="", data=""), QuantizeConfig(model="", data="")
EVALUATE, DEPLOY = EvalConfig(models=(), data=""), DeployConfig(model="models:/personseg")
# A preempted node or a failed TrainJob: the retry resumes after the last complete epoch (a failed
# TrainJob is kept for inspection; each try makes its own).
TRAIN_RETRIES = 2
# (cpu request, cpu limit, memory request, memory limit) per step
RESOURCES = {
    "check_data": ("250m", "1", "256Mi", "1Gi"),
    "ingest": ("500m", "1", "512Mi", "1Gi"),
    "train_pod_gpus": ("100m", "500m", "128Mi", "512Mi"),
    "train": ("2", "4", "2Gi", "4Gi"),
    "swap": ("2", "4", "2Gi", "4Gi"),
    "quantize": ("2", "4", "2Gi", "6Gi"),
    "evaluate": ("2", "2", "2Gi", "4Gi"),
    "deploy": ("250m", "1", "512Mi", "1Gi"),
}


def _sized(task: dsl.PipelineTask, step: str) -> dsl.PipelineTask:
    cpu_req, cpu_lim, mem_req, mem_lim = RESOURCES[step]
    return (task.set_cpu_request(cpu_req).set_cpu_limit(cpu_lim)
            .set_memory_request(mem_req).set_memory_limit(mem_lim).set_display_name(step))


def _networked(task: dsl.PipelineTask, secret: str, keys: S3Access, retries: int) -> dsl.PipelineTask:
    """S3 keys from the Secret (``secret``, a pipeline parameter; its fields per ``keys``), and retries."""
    kubernetes.use_secret_as_env(task, secret_name=secret, secret_key_to_env={
        keys.access_key_field: "MINIO_ACCESS_KEY", keys.secret_key_field: "MINIO_SECRET_KEY"})
    return task.set_retry(num_retries=retries, backoff_duration="30s", backoff_factor=2.0) if retries else task


def build_pipeline(access_key_field: str = ACCESS_KEY_FIELD, secret_key_field: str = SECRET_KEY_FIELD):
    """The pipeline function, with the Secret's key names fixed at compile time (KFP needs literals)."""
    keys = S3Access(access_key_field=access_key_field, secret_key_field=secret_key_field)  # endpoint, Secret: params

    @dsl.pipeline(name=PIPELINE_NAME, description="Train a person-segmentation U-Net, swap its decoder, "
                  "quantize each candidate (network x runtime) to INT8, evaluate, and deploy the fastest that passes "
                  "the gate. Needs a Kubeflow "
                  "Pipelines backend 2.5.0 to 2.17.x: the S3 Secret's name is a pipeline parameter (minio_secret).")
    def person_segmentation(  # noqa: D417 - until every parameter has its Args line (docs/pipeline.md has all)
        dataset_uri: str = "demo",
        extra_train_uri: str = "",
        extra_val_uri: str = "",
        image_size: int = TRAIN.size,
        width: int = TRAIN.width,
        epochs: int = TRAIN.epochs,
        composite: float = TRAIN.composite,
        photometric: float = TRAIN.photometric,
        background_hue: float = TRAIN.background_hue,
        backgrounds: str = TRAIN.backgrounds,
        seed: int = TRAIN.seed,
        swap_design: str = SWAP.design_name,
        swap_epochs: int = SWAP.epochs,
        calibration_size: int = QUANTIZE.calibration,
        candidates: str = DEFAULT_CANDIDATES,
        tolerable_iou_loss: float = QUANTIZE.tolerable_iou_loss,
        min_speedup: float = 1.25,
        min_iou: float = 0.5,
        extra_eval_uri: str = "real",
        min_extra_iou: float = 0.0,
        model_name: str = DEPLOY.name,
        deploy_target: str = DEPLOY.target,
        namespace: str = DEPLOY.namespace,
        eval_rounds: int = EVALUATE.rounds,
        force_retrain: bool = False,
        train_nodes: int = 1,
        train_gpus: int = 0,
        s3_endpoint: str = "",
        minio_secret: str = "mlpipeline-minio-artifact",
        serving_secret: str = DEPLOY.s3.secret,
        serving_min_replicas: int = DEPLOY.min_replicas,
        serving_max_replicas: int = DEPLOY.max_replicas,
        serving_cpu_request: str = DEPLOY.cpu_request,
        serving_cpu_limit: str = DEPLOY.cpu_limit,
        serving_memory_request: str = DEPLOY.memory_request,
        serving_memory_limit: str = DEPLOY.memory_limit,
        serving_image: str = SERVING_IMAGE,
    ):
        """Check the data, train, swap, quantize, evaluate and deploy the winner (docs/pipeline.md has the details).

        Each description starts with its group, the few a run usually sets marked [start here]; KFP lists
        parameters by name, so the group is what the description can add.

        Args:
            dataset_uri: [start here] The photos and masks to train on: demo, real or people (the committed
                sets), synthetic:N (N generated images), a folder inside the step image, or an s3:// prefix
                (push one with personseg data push). Checked like personseg data validate before anything trains.
            epochs: [start here] Training epochs; the epoch best on the validation split is kept.
            model_name: [start here] Registry name the model is published under, and the name of the served
                objects (a DNS label).
            deploy_target: [start here] Where the winner is served: kubernetes (Deployment, Service, HPA),
                kserve (InferenceService) or local (a process on 127.0.0.1; local runs).
            force_retrain: [start here] Train even when the production model was trained on exactly this data
                with this recipe (otherwise the run stops after check_data: no new data).
            namespace: [deploy] Kubernetes namespace the model is served in.
            extra_train_uri: [data] A second dataset (any dataset_uri form) whose images join the training split
                only; empty for none. Must not be the dataset or the evaluation set.
            extra_val_uri: [data] A dataset whose images join the validation split only, to choose the epoch
                kept; empty for none.
            extra_eval_uri: [gate] A second evaluation set, scored whole (real: the committed real photographs);
                empty for none.
            image_size: [train] Side in pixels the model is trained and served at (a multiple of 16).
            width: [train] Channels of the U-Net's first level (doubled per level).
            composite: [train] Probability that a training sample becomes a copy-paste composite (0: off).
            photometric: [train] Probability of each of blur, noise and JPEG artefacts on a training sample.
            background_hue: [train] Largest turn of a composite's background colours (fraction of the colour
                wheel; 0.5: any hue; 0: off).
            backgrounds: [train] People-free photos as composite backgrounds: scenes (the committed set), or an
                s3:// prefix of your own; empty for none.
            seed: [train] Random seed of training and swap (weights, order, augmentation).
            swap_design: [swap] The transposed-convolution decoder: exact, lean2 or lean4 (lean:N); or
                pruneNN (prune25, prune50, prune75; prune:R): NN % of every convolution's channels pruned.
            swap_epochs: [swap] Distilled fine-tuning epochs after the swap (0: none).
            calibration_size: [quantize] Training images INT8 calibrates on (at least 8).
            candidates: [quantize] Comma-separated network:runtime pairs competing for deployment (networks
                bilinear, swapped; runtimes onnxruntime, openvino).
            tolerable_iou_loss: [gate] IoU points INT8 may lose against FP32 of the same network, in quantize's
                tuning and in the gate, and what a candidate may lose end to end against the seed (the trained
                bilinear network in FP32).
            min_speedup: [gate] Speed INT8 must reach over FP32 ONNX Runtime of the same network.
            min_iou: [gate] Floor on every candidate's test IoU, so a model that never learned is not deployed
                (0: off; below 1).
            min_extra_iou: [gate] Floor on INT8's IoU on extra_eval_uri (0: off).
            eval_rounds: [gate] Timed passes per model in evaluate (the median is reported).
            train_nodes: [cluster] 1 trains in the step's pod; more runs a Kubeflow Trainer TrainJob over that
                many nodes.
            train_gpus: [cluster] GPUs per training node (0: CPU).
            s3_endpoint: [cluster] S3 endpoint of datasets and the registry; empty: the store KFP uses (filled in
                by pipeline upload, submit and schedule, else found by each step).
            minio_secret: [cluster] Kubernetes Secret with the S3 keys the pipeline's steps use.
            serving_secret: [serving] Kubernetes Secret with the read-only S3 key the serving pods use.
            serving_min_replicas: [serving] Fewest serving pods (autoscaling).
            serving_max_replicas: [serving] Most serving pods (autoscaling).
            serving_cpu_request: [serving] CPU request of a serving pod.
            serving_cpu_limit: [serving] CPU limit of a serving pod; its inference threads follow it.
            serving_memory_request: [serving] Memory request of a serving pod.
            serving_memory_limit: [serving] Memory limit of a serving pod.
            serving_image: [serving] The model server image the Deployment or InferenceService runs. The
                default is compiled in from the same registry setting as the step images
                (PERSONSEG_IMAGE_REGISTRY), so one setting names both images.
        """
        p = dict(locals())  # the parameters, as pipeline channels, for the tasks inside the condition

        def networked(task: dsl.PipelineTask) -> dsl.PipelineTask:
            return _networked(task, minio_secret, keys, RETRIES)

        # every parameter (a test keeps the two lists equal): all are checked before anything trains
        checked = networked(_sized(check_data(**{name: p[name] for name in check_data.component_spec.inputs}),
                                   "check_data"))
        checked.set_caching_options(False)
        with dsl.If(checked.outputs["Output"] != "", name="new-data"):
            _train_to_deploy(p, checked.outputs["Output"], networked, keys)

    return person_segmentation


def _train_to_deploy(p: dict[str, Any], retrain_key: Any, networked: Callable[[dsl.PipelineTask], dsl.PipelineTask],
                     keys: S3Access) -> None:
    """The tasks of a run that trains: ingest (cached on ``retrain_key``) through the gated deploy."""
    data = networked(_sized(ingest(dataset_uri=p["dataset_uri"], retrain_key=retrain_key, image_size=p["image_size"],
                                   s3_endpoint=p["s3_endpoint"], extra_train_uri=p["extra_train_uri"],
                                   extra_val_uri=p["extra_val_uri"]), "ingest"))
    trained = _train(p, data, retrain_key, keys)
    swapped = _sized(swap(data=data.outputs["data"], bilinear=trained.outputs["model"], design=p["swap_design"],
                          epochs=p["swap_epochs"], seed=p["seed"]), "swap")
    quantized = _sized(quantize(data=data.outputs["data"], bilinear=trained.outputs["model"],
                                swapped=swapped.outputs["model"], candidate_names=p["candidates"],
                                calibration_size=p["calibration_size"], tolerable_iou_loss=p["tolerable_iou_loss"]),
                       "quantize")
    evaluated = networked(_sized(evaluate(
        data=data.outputs["data"], bilinear=trained.outputs["model"], candidates=quantized.outputs["candidates"],
        model_name=p["model_name"], tolerable_iou_loss=p["tolerable_iou_loss"], min_speedup=p["min_speedup"],
        min_iou=p["min_iou"], rounds=p["eval_rounds"], extra_eval_uri=p["extra_eval_uri"],
        min_extra_iou=p["min_extra_iou"], image_size=p["image_size"], s3_endpoint=p["s3_endpoint"]), "evaluate"))
    evaluated.set_caching_options(False)
    with dsl.If(evaluated.outputs["Output"] != "", name="gate-passed"):  # the winner's name; "" = none passed
        shipped = networked(_sized(deploy(
            candidates=quantized.outputs["candidates"], winner=evaluated.outputs["Output"],
            evaluation=evaluated.outputs["evaluation"], model_name=p["model_name"],
            deploy_target=p["deploy_target"], namespace=p["namespace"], dataset_uri=p["dataset_uri"],
            retrain_key=retrain_key, s3_endpoint=p["s3_endpoint"], serving_secret=p["serving_secret"],
            access_key_field=keys.access_key_field, secret_key_field=keys.secret_key_field,
            serving_min_replicas=p["serving_min_replicas"], serving_max_replicas=p["serving_max_replicas"],
            serving_cpu_request=p["serving_cpu_request"], serving_cpu_limit=p["serving_cpu_limit"],
            serving_memory_request=p["serving_memory_request"], serving_memory_limit=p["serving_memory_limit"],
            serving_image=p["serving_image"]),
            "deploy"))
        shipped.set_caching_options(False)


def _train(p: dict[str, Any], ingested: dsl.PipelineTask, retrain_key: Any, keys: S3Access) -> dsl.PipelineTask:
    """The one train task: in its own pod (GPUs per ``train_gpus``) or launching a TrainJob, never both.

    A preempted or failed try is retried; the retry resumes after the last complete epoch, whose state
    the task keeps under the run's id and the retrain key (``personseg.steps.train``).
    """
    # after ingest: both only wait for check_data otherwise, and a fixed order keeps runs' logs alike
    gpus = _sized(train_pod_gpus(train_nodes=p["train_nodes"], train_gpus=p["train_gpus"]),
                  "train_pod_gpus").after(ingested)
    task = _sized(train(
        data=ingested.outputs["data"], image_size=p["image_size"], width=p["width"], epochs=p["epochs"],
        composite=p["composite"], photometric=p["photometric"], background_hue=p["background_hue"],
        backgrounds=p["backgrounds"], seed=p["seed"], train_nodes=p["train_nodes"], train_gpus=p["train_gpus"],
        image=STEP_IMAGE,
        s3_endpoint=p["s3_endpoint"], minio_secret=p["minio_secret"], access_key_field=keys.access_key_field,
        secret_key_field=keys.secret_key_field, run_id=dsl.PIPELINE_JOB_ID_PLACEHOLDER, retrain_key=retrain_key),
        "train")
    # kfp 2.17 does not add the producer of a resource placeholder to dependentTasks: say it, or the
    # train pod may start before its GPU count exists
    task.set_accelerator_type("nvidia.com/gpu").set_accelerator_limit(gpus.output).after(gpus)
    return _networked(task, p["minio_secret"], keys, TRAIN_RETRIES)


person_segmentation = build_pipeline()


def default_output() -> Path:
    """Where ``compile`` writes without ``-o``: the checkout's committed file, else the current folder."""
    return CHECKOUT_PACKAGE if CHECKOUT_PACKAGE.is_file() else Path(PACKAGE_FILE)


def default_package() -> Path:
    """The package ``upload``/``submit``/``schedule`` send without ``--package``.

    In a checkout, the committed (and staleness-tested) file; in an installed package, the pipeline of
    this installed version compiled afresh into a temporary file.
    """
    if CHECKOUT_PACKAGE.is_file():
        return CHECKOUT_PACKAGE
    import tempfile

    return compile_pipeline(Path(tempfile.mkdtemp(prefix="personseg-pipeline-")) / PACKAGE_FILE)


def compile_pipeline(out: str | Path, access_key_field: str = ACCESS_KEY_FIELD,
                     secret_key_field: str = SECRET_KEY_FIELD) -> Path:
    """Write the pipeline's IR YAML to ``out``."""
    from kfp import compiler

    pipeline = (person_segmentation if (access_key_field, secret_key_field) == (ACCESS_KEY_FIELD, SECRET_KEY_FIELD)
                else build_pipeline(access_key_field, secret_key_field))
    out = Path(out)
    compiler.Compiler().compile(pipeline, str(out))
    return out
