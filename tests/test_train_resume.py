"""A killed training starts again where it stopped: per-epoch state in a checkpoint place, on S3 or disk.

The S3 side is a real ``weed mini`` server on 127.0.0.1 (tests/storage_fixtures.py). The kill is the
training process exiting hard (``os._exit``, no clean-up, as under SIGKILL or a preempted pod) as
epoch 3 of 4 starts, through ``PERSONSEG_FAULT_EXIT``; the rerun is the same command, as KFP reruns a
retried task with the same arguments. What a cluster adds that is not run here: the pod being
replaced (a fresh disk: the rerun here reads nothing local either, the state is only on S3).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
import torch
import yaml
from safetensors.torch import load_file
from storage_fixtures import MODEL_BUCKET, s3_env, s3_server  # noqa: F401 - fixtures

from personseg.errors import UserError
from personseg.models import build_model
from personseg.training import state as state_module
from personseg.training.checkpoints import CheckpointPlace
from personseg.training.loop import FitState
from personseg.training.step import TrainConfig

REPO = Path(__file__).resolve().parents[1]
FLAGS = ["--epochs", "4", "--width", "8", "--size", "64", "--lr", "3e-3", "--threads", "1", "--workers", "0"]


def _train(data: Path, out: Path, *extra: str, fault: str = "") -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(REPO), "PERSONSEG_THREADS": "1"}
    env.pop("PERSONSEG_FAULT_EXIT", None)
    if fault:
        env["PERSONSEG_FAULT_EXIT"] = fault
    return subprocess.run([sys.executable, "-m", "personseg", "train", "--data", str(data), *FLAGS, *extra,
                           "--out", str(out)], capture_output=True, text=True, env=env, timeout=300, cwd=REPO)


def _small_copy(tiny_dataset: Path, root: Path, count: int = 32) -> Path:
    for part in ("images", "masks"):
        (root / part).mkdir(parents=True)
        for path in sorted((tiny_dataset / part).iterdir())[:count]:
            shutil.copy(path, root / part)
    return root


def test_a_killed_training_resumes_at_epoch_3_from_s3_with_the_weights_of_an_unbroken_run(
        tiny_dataset: Path, tmp_path: Path, s3_env):  # noqa: F811 - fixture
    tiny_dataset = _small_copy(tiny_dataset, tmp_path / "data")
    place = f"s3://{MODEL_BUCKET}/checkpoints/run-{uuid.uuid4().hex[:8]}/retrain-key"
    unbroken = _train(tiny_dataset, tmp_path / "unbroken")
    assert unbroken.returncode == 0, unbroken.stderr[-2000:]

    killed = _train(tiny_dataset, tmp_path / "model", "--checkpoint-dir", place, fault="0:3")
    assert killed.returncode == 13, killed.stderr[-2000:]  # rank 0 exited hard as epoch 3 started
    assert not (tmp_path / "model").exists() and not (tmp_path / "model.ckpt").exists()

    rerun = _train(tiny_dataset, tmp_path / "model", "--checkpoint-dir", place)
    assert rerun.returncode == 0, rerun.stderr[-2000:]
    assert f"resuming after epoch 2 from {place}/train_state.pt" in rerun.stderr
    assert "epoch 1/4" not in rerun.stderr and "epoch 3/4" in rerun.stderr
    history = json.loads((tmp_path / "model" / "metrics.json").read_text())["history"]
    assert [row["epoch"] for row in history] == [1, 2, 3, 4]
    a = load_file(tmp_path / "unbroken" / "model.safetensors")
    b = load_file(tmp_path / "model" / "model.safetensors")
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a), "resumed weights differ"


def _model() -> torch.nn.Module:
    torch.manual_seed(0)
    return build_model("unet", decoder="bilinear", width=8)


def test_a_state_cut_off_while_being_written_is_never_read(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    place, recipe, model = CheckpointPlace(str(tmp_path / "ckpt")), {"epochs": 4}, _model()
    place.save(FitState(epoch=1, history=[{"epoch": 1}]), model, recipe)
    real_save = torch.save

    def killed_mid_write(obj, path) -> None:
        real_save(obj, path)
        Path(path).write_bytes(Path(path).read_bytes()[:1000])  # the first KB reached the disk, then: killed
        raise KeyboardInterrupt

    monkeypatch.setattr(state_module.torch, "save", killed_mid_write)
    with pytest.raises(KeyboardInterrupt):
        place.save(FitState(epoch=2, history=[{"epoch": 1}, {"epoch": 2}]), model, recipe)
    monkeypatch.setattr(state_module.torch, "save", real_save)
    found = place.load(_model(), recipe)
    assert found is not None and found.epoch == 1


def test_a_place_holding_another_recipes_state_is_refused_by_name(tmp_path: Path):
    place = CheckpointPlace(str(tmp_path / "ckpt"))
    cfg = TrainConfig(data="d", width=8, epochs=4)
    place.save(FitState(epoch=1), _model(), cfg.recipe())
    assert TrainConfig(data="elsewhere", threads=3, width=8, epochs=4).recipe() == cfg.recipe()
    with pytest.raises(UserError, match=r"holds the state of another training \(different epochs, lr\)"):
        place.load(_model(), TrainConfig(data="d", width=8, epochs=6, lr=0.1).recipe())


def test_an_empty_place_starts_from_scratch_and_a_bad_prefix_is_refused(tmp_path: Path, s3_env):  # noqa: F811
    assert CheckpointPlace(str(tmp_path / "none")).load(_model(), {}) is None
    assert CheckpointPlace(f"s3://{MODEL_BUCKET}/checkpoints/{uuid.uuid4().hex}").load(_model(), {}) is None
    from personseg.training.checkpoints import check_place

    with pytest.raises(UserError, match="'..' path segment"):
        check_place(f"s3://{MODEL_BUCKET}/a/../b")


STEP = """
import logging
import sys
logging.basicConfig(level=logging.INFO)
from personseg.steps.train import Nodes, train_step
from personseg.training.step import TrainConfig
cfg = TrainConfig(data=sys.argv[1], width=8, size=64, epochs=4, lr=3e-3, threads=1, workers=0)
train_step(cfg, sys.argv[2], Nodes(), run_id="run-7", retrain_key="data=abc;recipe=def")
"""


def test_a_retried_train_step_resumes_from_the_run_and_retrain_keys_checkpoint(tiny_dataset: Path, tmp_path: Path,
                                                                               s3_env):  # noqa: F811 - fixture
    # KFP retries a task with the same inputs (kubeflow/pipelines backend/src/v2/compiler/argocompiler/
    # container.go getTaskRetryStrategy, 2.5.0+, an Argo retryStrategy on the executor pod), so the retry
    # sees the same run id and retrain key and finds the same checkpoint prefix.
    from personseg.steps.train import checkpoint_place
    from personseg.storage.client import Store

    data = _small_copy(tiny_dataset, tmp_path / "data")
    place = checkpoint_place("run-7", "data=abc;recipe=def")
    assert place is not None and place.startswith(f"s3://{MODEL_BUCKET}/checkpoints/run-7/")
    assert checkpoint_place("", "data=abc;recipe=def") is None
    env = {**os.environ, "PYTHONPATH": str(REPO), "PERSONSEG_THREADS": "1"}

    def step(fault: str = "") -> subprocess.CompletedProcess:
        extra = {"PERSONSEG_FAULT_EXIT": fault} if fault else {}
        return subprocess.run([sys.executable, "-c", STEP, str(data), str(tmp_path / "model")], capture_output=True,
                              text=True, env={**env, **extra}, timeout=300, cwd=REPO)

    killed = step(fault="0:3")
    assert killed.returncode == 13, killed.stderr[-2000:]
    key = place.removeprefix(f"s3://{MODEL_BUCKET}/")
    assert [o.key for o in Store.from_env().list(MODEL_BUCKET, key)] == [f"{key}/train_state.pt"]
    retried = step()
    assert retried.returncode == 0, retried.stderr[-2000:]
    assert f"resuming after epoch 2 from {place}/train_state.pt" in retried.stderr
    history = json.loads((tmp_path / "model" / "metrics.json").read_text())["history"]
    assert [row["epoch"] for row in history] == [1, 2, 3, 4]
    assert Store.from_env().list(MODEL_BUCKET, key) == [], "the finished step removes its checkpoints"


def test_the_compiled_train_task_is_retried_and_keyed_by_run_and_retrain_key():
    doc = next(yaml.safe_load_all((REPO / "pipelines" / "person_segmentation.yaml").read_text()))
    (task,) = [c["dag"]["tasks"]["train"] for c in doc["components"].values()
               if "dag" in c and "train" in c["dag"]["tasks"]]
    assert task["retryPolicy"]["maxRetryCount"] >= 1
    params = task["inputs"]["parameters"]
    assert params["run_id"] == {"runtimeValue": {"constant": "{{$.pipeline_job_uuid}}"}}
    assert params["retrain_key"] == {"componentInputParameter": "pipelinechannel--check-data-Output"}
