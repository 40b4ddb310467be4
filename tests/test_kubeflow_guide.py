"""docs/kubeflow.md, run: every command in it runs here against the stand-ins, or is listed as needing a cluster.

The KFP API is the stand-in of tests/kfp_fixtures.py (its docstring lists what the real API server does
that it does not), the registry a real S3 server (weed mini), manifests render with kubectl kustomize
and validate against real Kubernetes schemas. The image build and push run scripts/images.sh as the
Makefile's recipes call it, against a stand-in ``docker`` that records what it is asked to build and
push (no image is built: docs/images.md says what the real build was tested with). A command added to
the guide without being run here, or listed below as needing a cluster, fails
``test_every_command_is_run_or_needs_a_cluster``.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import kubernetes_validate
import storage_fixtures
import yaml
from pipeline_fixtures import ROOT
from storage_fixtures import make_model_dir, publish

from personseg.cli import main
from personseg.image_refs import pipeline_image, serving_image

if TYPE_CHECKING:
    from kfp_fixtures import StubKfp

pytest_plugins = ("kfp_fixtures",)
s3_server = storage_fixtures.s3_server
s3_env = storage_fixtures.s3_env

GUIDE = ROOT / "docs" / "kubeflow.md"
# The one-line grant of the registry's buckets to a profile's key (multi-user KFP 2.15+).
GRANT = ("aws --endpoint-url http://localhost:8111 --region us-east-1 iam put-user-policy --user-name "
         "kubeflow-user-example-com --policy-name personseg --policy-document '{\"Version\": \"2012-10-17\", "
         "\"Statement\": [{\"Effect\": \"Allow\", \"Action\": [\"s3:*\"], \"Resource\": [\"arn:aws:s3:::models\", "
         "\"arn:aws:s3:::models/*\", \"arn:aws:s3:::data\", \"arn:aws:s3:::data/*\"]}]}'")
# Commands of the guide that need a Kubernetes API server.
NEEDS_A_CLUSTER = {
    "kubectl create namespace personseg",
    "kubectl label namespace personseg pod-security.kubernetes.io/enforce=restricted "
    "pod-security.kubernetes.io/warn=restricted",
    "kubectl apply -k manifests/admission",
    'export READER_AK=personseg-reader READER_SK="$(openssl rand -base64 30)"',
    'kubectl -n kubeflow exec deploy/seaweedfs -- sh -c "echo \'s3.configure -user personseg-reader -access_key '
    '$READER_AK -secret_key $READER_SK -actions Read:models,List:models -apply\' | weed shell"',
    'mc alias set kfp http://localhost:9000 "$ROOT_AK" "$ROOT_SK"',
    "mc admin policy create kfp personseg-models-read personseg-models-read.json",
    'mc admin user add kfp "$READER_AK" "$READER_SK"',
    'mc admin policy attach kfp personseg-models-read --user "$READER_AK"',
    'kubectl -n personseg create secret generic personseg-models-reader '
    '--from-literal=accesskey="$READER_AK" --from-literal=secretkey="$READER_SK"',
    "kubectl apply -k manifests/rbac",
    "kubectl apply -k manifests/rbac-multi-user",
    "kubectl apply -k manifests/rbac/trainjob",
    "kubectl apply -k manifests/store-access",
    GRANT,
    "personseg deploy --model models:/personseg@production --namespace personseg",
}


def blocks(language: str) -> list[str]:
    """The fenced blocks of ``language`` in the guide."""
    return re.findall(rf"```{language}\n(.*?)```", GUIDE.read_text(), flags=re.S)


def commands() -> list[str]:
    """Every shell command of the guide, continuation lines joined."""
    out = []
    for block in blocks("sh"):
        out += [line.strip() for line in block.replace("\\\n", " ").splitlines() if line.strip()]
    return [re.sub(r"\s+", " ", c) for c in out]


def _kubectl() -> str:
    beside = Path(sys.executable).parent / "kubectl"
    return str(beside) if beside.is_file() else "kubectl"


def test_every_command_is_run_or_needs_a_cluster() -> None:
    listed = set(commands())
    prefixes = ("make images push", "personseg pipeline", "PERSONSEG_IMAGE_REGISTRY=", "kubectl kustomize",
                "personseg models")
    run_here = {c for c in listed if c.startswith(prefixes)}
    assert listed - run_here == NEEDS_A_CLUSTER
    assert NEEDS_A_CLUSTER <= listed  # the list names nothing the guide no longer says


# What the Makefile's goals run (checked against the Makefile itself), and the stand-in container engine.
MAKE_GOALS = {"images": "bash scripts/images.sh build", "push": "bash scripts/images.sh push"}
FAKE_DOCKER = """#!/bin/sh
echo "$*" >> "$DOCKER_LOG"
"""
TORCH_INDEX = "http://127.0.0.1:9/torch-cpu"  # what the reader has in $TORCH_INDEX_URL; nothing is fetched


def _make_images_push(tmp_path: Path) -> tuple[list[str], list[str]]:
    """Step 1 as make runs it: each goal's recipe with the command line's variables in its environment.

    GNU make puts variables set on its command line into the recipes' environment (the push recipe
    also passes REGISTRY explicitly). Returns the engine's build and push calls.
    """
    (line,) = [c for c in commands() if c.startswith("make ")]
    words = shlex.split(line.replace('"$TORCH_INDEX_URL"', TORCH_INDEX))[1:]
    goals = [w for w in words if "=" not in w]
    variables = dict(w.split("=", 1) for w in words if "=" in w)
    makefile = (ROOT / "Makefile").read_text()
    bin_dir = tmp_path / "engine"
    bin_dir.mkdir()
    (bin_dir / "docker").write_text(FAKE_DOCKER)
    (bin_dir / "docker").chmod(0o755)
    log = tmp_path / "docker.log"
    env = {k: v for k, v in os.environ.items() if k not in ("REGISTRY", "PERSONSEG_IMAGE_REGISTRY", "ENGINE",
                                                            "TORCH_INDEX_URL")}
    env.update(variables, PATH=f"{bin_dir}:{env['PATH']}", DOCKER_LOG=str(log), PYTHON=sys.executable)
    for goal in goals:
        recipe = MAKE_GOALS[goal]
        assert re.search(rf"^{goal}:\n\t(REGISTRY='\$\(REGISTRY\)' )?{re.escape(recipe)}$", makefile, re.M), goal
        done = subprocess.run(shlex.split(recipe), cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, f"make {goal}: {done.stderr}"
    calls = log.read_text().splitlines()
    return [c for c in calls if c.startswith("build ")], [c.split()[1] for c in calls if c.startswith("push ")]


def _compile_as_the_guide_says(folder: Path) -> Path:
    """Step 2, in ``folder``: a new process, as a reader's shell runs it (the registry is read at import)."""
    (line,) = [c for c in commands() if c.startswith("PERSONSEG_IMAGE_REGISTRY=")]
    assignment, *argv = shlex.split(line)
    key, _, value = assignment.partition("=")
    subprocess.run([str(Path(sys.executable).parent / argv[0]), *argv[1:]], cwd=folder, check=True,
                   env={**os.environ, key: value}, capture_output=True, timeout=120)
    return folder / "person_segmentation.yaml"


def test_the_images_step_1_pushes_are_the_ones_the_uploaded_pipeline_runs_and_deploys(
        stub: tuple[str, StubKfp], tmp_path: Path, monkeypatch) -> None:
    """From ``make images push`` to the Deployment the deploy step would create, through compile and upload."""
    from kfp_driver import play

    from personseg.deploy.objects import render_kubernetes
    from personseg.steps.check_data import serving_settings
    from personseg.steps.deploy import serving_config
    from personseg.storage.access import S3Access

    builds, pushed = _make_images_push(tmp_path)
    assert sorted(pushed) == [pipeline_image("registry.example.com/ml"), serving_image("registry.example.com/ml")]
    (pipeline_build,) = [b for b in builds if "images/pipeline/Dockerfile" in b]
    assert f"-t {pipeline_image('registry.example.com/ml')} " in pipeline_build
    assert f"--build-arg TORCH_INDEX_URL={TORCH_INDEX}" in pipeline_build
    step_image, server_image = pipeline_image("registry.example.com/ml"), serving_image("registry.example.com/ml")

    workdir = tmp_path / "work"
    workdir.mkdir()
    _compile_as_the_guide_says(workdir)
    host, state = stub
    monkeypatch.setenv("KFP_HOST", host)
    monkeypatch.chdir(workdir)  # the reader's shell is still where step 2 wrote the package
    (upload,) = [c for c in commands() if c.startswith("personseg pipeline upload")]
    assert main([host if a == "$KFP_HOST" else a for a in shlex.split(upload)][1:]) == 0
    (version,) = state.versions
    spec = version["pipeline_spec"]["pipeline_spec"]
    assert {e["container"]["image"] for e in spec["deploymentSpec"]["executors"].values()} == {step_image}
    assert spec["root"]["inputDefinitions"]["parameters"]["serving_image"]["defaultValue"] == server_image

    played = play(version["pipeline_spec"], {}, state.tag_name)  # a run with the defaults, as the driver feeds it
    assert played.state == "SUCCEEDED", played.error
    (deploy_task,) = [t for t in played.ran if t.endswith("/deploy")]
    given = played.parameter_inputs[deploy_task]
    cfg = serving_config("models:/personseg:1", "kubernetes", given["model_name"], given["namespace"],
                         S3Access("http://seaweedfs.kubeflow:8333", given["serving_secret"]), serving_settings(given))
    (deployment,) = [o for o in render_kubernetes(cfg, "models:/personseg:1") if o["kind"] == "Deployment"]
    assert [c["image"] for c in deployment["spec"]["template"]["spec"]["containers"]] == [server_image]


def test_rbac_renders_validate_and_bind_the_right_runner() -> None:
    subjects, namespaces = {}, {}
    for line in [c for c in commands() if c.startswith("kubectl kustomize manifests/rbac")]:
        out = subprocess.run([_kubectl(), *shlex.split(line)[1:]], cwd=ROOT, capture_output=True, text=True,
                             timeout=60, check=True).stdout
        docs = [d for d in yaml.safe_load_all(out) if d]
        for doc in docs:
            kubernetes_validate.validate(doc, "1.31.0", strict=True)
        where = line.split()[-1].removeprefix("manifests/")
        subjects[where] = next(d for d in docs if d["kind"] == "RoleBinding")["subjects"]
        namespaces[where] = next(d for d in docs if d["kind"] == "Role")["metadata"]["namespace"]
    runner = [{"kind": "ServiceAccount", "name": "pipeline-runner", "namespace": "kubeflow"}]
    assert subjects == {
        "rbac": runner,
        "rbac-multi-user": [{"kind": "ServiceAccount", "name": "default-editor",
                             "namespace": "kubeflow-user-example-com"}],
        "rbac/trainjob": runner}
    # the deployer Role where the model is served; the TrainJob Role where the steps (and their Secret) are
    assert namespaces == {"rbac": "personseg", "rbac-multi-user": "personseg", "rbac/trainjob": "kubeflow"}


def test_the_multi_user_grant_covers_the_registry_bucket() -> None:
    from personseg.storage.config import DEFAULT_MODEL_BUCKET

    argv = shlex.split(GRANT)
    policy = json.loads(argv[argv.index("--policy-document") + 1])
    (statement,) = policy["Statement"]
    assert statement["Effect"] == "Allow" and "s3:*" in statement["Action"]
    bucket = f"arn:aws:s3:::{DEFAULT_MODEL_BUCKET}"
    assert {bucket, f"{bucket}/*"} <= set(statement["Resource"])


def test_store_access_renders_a_policy_for_the_serving_namespace() -> None:
    (line,) = [c for c in commands() if c == "kubectl kustomize manifests/store-access"]
    out = subprocess.run([_kubectl(), *shlex.split(line)[1:]], cwd=ROOT, capture_output=True, text=True,
                         timeout=60, check=True).stdout
    (policy,) = [d for d in yaml.safe_load_all(out) if d]
    kubernetes_validate.validate(policy, "1.31.0", strict=True)
    assert policy["kind"] == "NetworkPolicy" and policy["metadata"]["namespace"] == "kubeflow"
    (rule,) = policy["spec"]["ingress"]
    assert rule["from"][0]["namespaceSelector"]["matchExpressions"][0]["values"] == ["personseg"]


def test_upload_run_and_schedule_as_the_guide_says(stub: tuple[str, StubKfp], tmp_path: Path, monkeypatch,
                                                   capsys) -> None:
    host, state = stub
    monkeypatch.setenv("KFP_HOST", host)
    _compile_as_the_guide_says(tmp_path)
    monkeypatch.chdir(tmp_path)  # where step 2 wrote the package step 4 uploads
    for line in [c for c in commands() if c.startswith("personseg pipeline")]:
        argv = [host if a == "$KFP_HOST" else a for a in shlex.split(line.replace('"$KFP_HOST"', "$KFP_HOST"))][1:]
        assert main(argv) == 0, line
    out = capsys.readouterr().out
    (version,) = state.versions
    assert f"created version {version['display_name']}" in out
    run, trainjob_run = state.runs
    assert run["pipeline_version_reference"]["pipeline_version_id"] == version["pipeline_version_id"]
    assert run["runtime_config"]["parameters"] == {"dataset_uri": "s3://datasets/people", "epochs": 30}
    assert trainjob_run["runtime_config"]["parameters"] == {"train_nodes": 2, "train_gpus": 1}
    (schedule,) = state.recurring
    assert schedule["display_name"] == "weekly-retrain" and schedule["trigger"]["cron_schedule"]["cron"] == \
        "0 0 3 * * 1"

    (snippet,) = blocks("python")
    exec(compile(snippet, str(GUIDE), "exec"), {})  # the Python way, against the same stand-in
    assert len(state.runs) == 3 and state.runs[2]["display_name"] == "people-30-epochs"
    assert state.runs[2]["pipeline_version_reference"]["pipeline_version_id"] == version["pipeline_version_id"]


def test_roll_back_in_the_registry(s3_env, tmp_path: Path, capsys) -> None:
    from personseg.storage.registry import Registry

    registry = Registry.from_env()
    for v in range(1, 5):
        assert publish(registry, make_model_dir(tmp_path / f"m{v}"), "personseg") == v
    registry.promote("personseg", 4, "production")
    for line in [c for c in commands() if c.startswith("personseg models")]:
        assert main(shlex.split(line)[1:]) == 0, line
    assert "personseg" in capsys.readouterr().out
    assert registry.stage("personseg", "production") == 3


def test_the_minio_policy_for_the_serving_key_only_reads_the_model_bucket() -> None:
    (policy,) = [json.loads(b) for b in blocks("json") if "personseg" not in b or "Statement" in b]
    (statement,) = policy["Statement"]
    assert statement["Effect"] == "Allow"
    assert set(statement["Action"]) == {"s3:GetObject", "s3:ListBucket", "s3:GetBucketLocation"}
    assert set(statement["Resource"]) == {"arn:aws:s3:::models", "arn:aws:s3:::models/*"}
