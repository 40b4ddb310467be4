"""Every component and the pipeline compile to KFP IR with the settings the cluster needs."""

from __future__ import annotations

import importlib
from pathlib import Path

import pytest
import yaml
from pipeline_fixtures import ROOT

from personseg.image_refs import pipeline_image

STEPS = ("check_data", "ingest", "train_pod_gpus", "train", "swap", "quantize", "evaluate", "deploy")
PARAMS = {"dataset_uri", "image_size", "width", "epochs", "swap_design", "calibration_size", "tolerable_iou_loss",
          "min_speedup", "min_iou", "model_name", "deploy_target", "namespace", "candidates"}


@pytest.fixture(autouse=True)
def _default_registry(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PERSONSEG_IMAGE_REGISTRY", raising=False)


def _docs(path: Path) -> tuple[dict, dict]:
    spec, platform = list(yaml.safe_load_all(path.read_text()))
    return spec, platform


@pytest.mark.parametrize("step", STEPS)
def test_component_compiles_on_the_step_image(step: str, tmp_path: Path) -> None:
    from kfp import compiler

    component = getattr(importlib.import_module(f"personseg_kfp.components.{step}"), step)
    # the checkout's top-level components/<step>.py is a thin entry point to the same component
    assert getattr(importlib.import_module(f"components.{step}"), step) is component
    out = tmp_path / f"{step}.yaml"
    compiler.Compiler().compile(component, str(out))
    spec = yaml.safe_load(out.read_text())
    (executor,) = spec["deploymentSpec"]["executors"].values()
    container = executor["container"]
    assert container["image"] == pipeline_image()
    assert "pip install" not in " ".join(container["command"])  # dependencies live in the image
    assert "from personseg" in container["command"][-1]  # the body calls the library


def test_pipeline_structure(tmp_path: Path) -> None:
    from personseg_kfp.pipeline import compile_pipeline

    spec, platform = _docs(compile_pipeline(tmp_path / "p.yaml"))
    params = spec["root"]["inputDefinitions"]["parameters"]
    assert PARAMS <= set(params)
    assert params["dataset_uri"]["defaultValue"] == "demo"
    assert params["candidates"]["defaultValue"] == \
        "bilinear:onnxruntime,bilinear:openvino,swapped:onnxruntime,swapped:openvino"  # each network on each runtime
    root = spec["root"]["dag"]["tasks"]
    assert set(root) == {"check-data", "condition-1"}  # nothing trains unless check-data finds new data
    assert root["condition-1"]["triggerPolicy"]["condition"] == \
        "inputs.parameter_values['pipelinechannel--check-data-Output'] != ''"
    assert root["check-data"]["cachingOptions"] == {}  # never cached: it must look at the data every run
    tasks = spec["components"]["comp-condition-1"]["dag"]["tasks"]
    assert set(tasks) == {"ingest", "train-pod-gpus", "train", "swap", "quantize", "evaluate", "condition-2"}
    assert tasks["ingest"]["inputs"]["parameters"]["retrain_key"]["componentInputParameter"] == \
        "pipelinechannel--check-data-Output"  # the data's fingerprint is ingest's cache key
    for extra in ("extra_train_uri", "extra_val_uri"):  # what check_data fingerprints is what ingest adds
        assert root["check-data"]["inputs"]["parameters"][extra]["componentInputParameter"] == extra
        assert tasks["ingest"]["inputs"]["parameters"][extra]["componentInputParameter"] == f"pipelinechannel--{extra}"
    assert params["extra_val_uri"]["defaultValue"] == ""
    assert tasks["condition-2"]["triggerPolicy"]["condition"] == \
        "inputs.parameter_values['pipelinechannel--evaluate-Output'] != ''"  # the winner's name
    # one quantize task builds every candidate; evaluate and deploy read its one artifact, deploy the winner
    assert tasks["quantize"]["inputs"]["parameters"]["candidate_names"]["componentInputParameter"] == \
        "pipelinechannel--candidates"
    assert set(tasks["quantize"]["inputs"]["artifacts"]) == {"data", "bilinear", "swapped"}
    # the gate's floor reaches evaluate, with a default that refuses a model that never learned
    assert tasks["evaluate"]["inputs"]["parameters"]["min_iou"]["componentInputParameter"] == "pipelinechannel--min_iou"
    assert params["min_iou"]["defaultValue"] == 0.5
    assert tasks["evaluate"]["inputs"]["artifacts"]["candidates"]["taskOutputArtifact"] == {
        "outputArtifactKey": "candidates", "producerTask": "quantize"}
    inner = spec["components"]["comp-condition-2"]["dag"]["tasks"]["deploy"]
    assert inner["inputs"]["parameters"]["winner"]["componentInputParameter"] == "pipelinechannel--evaluate-Output"
    assert inner["inputs"]["artifacts"]["candidates"]["componentInputArtifact"] == \
        "pipelinechannel--quantize-candidates"
    assert inner["cachingOptions"] == {} and tasks["evaluate"]["cachingOptions"] == {}  # never cached
    assert tasks["train"]["cachingOptions"] == {"enableCache": True}
    assert inner["retryPolicy"]["maxRetryCount"] == 2 and tasks["ingest"]["retryPolicy"]["maxRetryCount"] == 2
    for name, executor in spec["deploymentSpec"]["executors"].items():
        res = executor["container"]["resources"]
        assert {"resourceCpuRequest", "resourceCpuLimit", "resourceMemoryRequest", "resourceMemoryLimit"} <= set(res)
        assert executor["container"]["image"] == pipeline_image()
    secrets = platform["platforms"]["kubernetes"]["deploymentSpec"]["executors"]
    # train needs the keys when it launches a TrainJob (to push the data and pull the model)
    assert set(secrets) == {"exec-check-data", "exec-ingest", "exec-train", "exec-evaluate", "exec-deploy"}
    for executor in secrets.values():
        (entry,) = executor["secretAsEnv"]
        assert {(k["secretKey"], k["envVar"]) for k in entry["keyToEnv"]} == {
            ("accesskey", "MINIO_ACCESS_KEY"), ("secretkey", "MINIO_SECRET_KEY")}
    assert spec["root"]["inputDefinitions"]["parameters"]["minio_secret"]["defaultValue"] == \
        "mlpipeline-minio-artifact"


def test_secret_keys_are_configurable(tmp_path: Path) -> None:
    from personseg_kfp.pipeline import compile_pipeline

    _, platform = _docs(compile_pipeline(tmp_path / "p.yaml", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"))
    entry = platform["platforms"]["kubernetes"]["deploymentSpec"]["executors"]["exec-deploy"]["secretAsEnv"][0]
    assert {k["secretKey"] for k in entry["keyToEnv"]} == {"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"}


def test_committed_yaml_is_current(tmp_path: Path) -> None:
    from personseg.cli import main

    out = tmp_path / "fresh.yaml"
    assert main(["pipeline", "compile", "-o", str(out)]) == 0
    committed = ROOT / "pipelines" / "person_segmentation.yaml"
    assert out.read_text() == committed.read_text(), \
        "pipelines/person_segmentation.yaml is stale: run `personseg pipeline compile` and commit it"


def test_params_are_typed_against_the_pipeline() -> None:
    from personseg.errors import UserError
    from personseg_kfp.params import parse_params
    from personseg_kfp.pipeline import person_segmentation

    assert parse_params(["epochs=3", "min_speedup=1.5", "model_name=a=b"], person_segmentation) == {
        "epochs": 3, "min_speedup": 1.5, "model_name": "a=b"}
    with pytest.raises(UserError, match="not a pipeline parameter"):
        parse_params(["epoch=3"], person_segmentation)
    with pytest.raises(UserError, match="epochs='x': expected int"):
        parse_params(["epochs=x"], person_segmentation)


def test_train_is_one_task_whose_pod_requests_gpus_only_when_it_trains_there(tmp_path: Path) -> None:
    """One ``train`` task for both ``train_nodes`` cases, so no artifact ``dsl.OneOf`` reaches the backend.

    KFP backends before 2.17.0 resolve an artifact OneOf to its last selector whatever branch ran
    (kubeflow/pipelines backend/src/v2/driver/driver.go ``resolveUpstreamArtifacts``, 2.4.0 and 2.5.0;
    backend/src/v2/driver/resolve.go ``GetProducerTask``, 2.14.0 to 2.16.1; fixed in 2.17.0 by #13437):
    tests/test_pipeline_remote.py plays the compiled graph through such a driver. The GPU count reaches
    the pod as a placeholder the driver resolves with ``GetStringValue``
    (``resolvePodSpecInputRuntimeParameter``, driver/util.go 2.4.0 and 2.5.0, driver/resolve.go 2.14.0 to
    2.17.0): an integer resolves to "" and no limit is set, so its producer must output a string. That
    resolution is the backend's and is not run here.
    """
    from personseg_kfp.pipeline import compile_pipeline

    spec, _ = _docs(compile_pipeline(tmp_path / "p.yaml"))
    params = spec["root"]["inputDefinitions"]["parameters"]
    assert params["train_nodes"]["defaultValue"] == 1 and params["train_gpus"]["defaultValue"] == 0
    for component in spec["components"].values():  # no OneOf over artifacts anywhere
        for out in component.get("dag", {}).get("outputs", {}).get("artifacts", {}).values():
            assert len(out["artifactSelectors"]) == 1
    tasks = spec["components"]["comp-condition-1"]["dag"]["tasks"]
    train = tasks["train"]
    assert [n for n in tasks if n.startswith("train")] == ["train", "train-pod-gpus"]
    assert set(train["dependentTasks"]) == {"ingest", "train-pod-gpus"}  # the GPU count exists before the pod
    assert train["inputs"]["parameters"]["pipelinechannel--train-pod-gpus-Output"] == {
        "taskOutputParameter": {"outputParameterKey": "Output", "producerTask": "train-pod-gpus"}}
    assert spec["components"]["comp-train-pod-gpus"]["outputDefinitions"]["parameters"]["Output"][
        "parameterType"] == "STRING"
    for name in ("train_nodes", "train_gpus"):
        assert tasks["train-pod-gpus"]["inputs"]["parameters"][name] == \
            {"componentInputParameter": f"pipelinechannel--{name}"}
        assert train["inputs"]["parameters"][name] == {"componentInputParameter": f"pipelinechannel--{name}"}
    executors = spec["deploymentSpec"]["executors"]
    gpu = executors["exec-train"]["container"]["resources"]["accelerator"]
    assert gpu["resourceType"] == "nvidia.com/gpu"
    assert gpu["resourceCount"] == "{{$.inputs.parameters['pipelinechannel--train-pod-gpus-Output']}}"
    assert "accelerator" not in executors["exec-train-pod-gpus"]["container"]["resources"]
    assert train["inputs"]["parameters"]["image"] == {"runtimeValue": {"constant": pipeline_image()}}  # TrainJob's
    for consumer in ("swap", "quantize", "evaluate"):  # downstream reads the one train task's model
        model = tasks[consumer]["inputs"]["artifacts"]["bilinear"]
        assert model["taskOutputArtifact"] == {"outputArtifactKey": "model", "producerTask": "train"}


def test_the_train_pod_asks_for_gpus_only_when_it_trains() -> None:
    from personseg.errors import UserError
    from personseg.steps.train_pod_gpus import train_pod_gpus

    assert train_pod_gpus(1, 2) == "2" and train_pod_gpus(1, 0) == "0"
    assert train_pod_gpus(3, 2) == "0"  # it only launches the TrainJob, whose nodes get the GPUs
    with pytest.raises(UserError, match="train_nodes 0: must be >= 1"):
        train_pod_gpus(0, 0)
    with pytest.raises(UserError, match="train_gpus -1: must be >= 0"):
        train_pod_gpus(1, -1)


def test_every_parameter_of_the_committed_pipeline_says_what_it_does() -> None:
    """The run form and the YAML a user uploads carry a description per parameter, led by its group."""
    import inspect

    import docstring_parser

    from personseg_kfp.pipeline import person_segmentation

    spec = next(yaml.safe_load_all((ROOT / "pipelines" / "person_segmentation.yaml").read_text()))
    params = spec["root"]["inputDefinitions"]["parameters"]
    undescribed = sorted(name for name, value in params.items() if not value.get("description", "").strip())
    assert undescribed == []
    assert all(value["description"].startswith("[") for value in params.values())
    first = {name for name, value in params.items() if value["description"].startswith("[start here] ")}
    assert first == {"dataset_uri", "epochs", "model_name", "deploy_target", "force_retrain"}
    documented = [p.arg_name for p in docstring_parser.parse(inspect.getdoc(person_segmentation.pipeline_func)).params]
    assert sorted(documented) == sorted(params)  # no description of a parameter that is gone, none twice
