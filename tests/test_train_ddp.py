"""Several training ranks on one machine: torchrun's multi-node form, ``--nproc``, failures, resume.

Ranks are real processes talking gloo over 127.0.0.1 (width 8, 64 px, one thread each). The sample ids
each rank trained on come from the debug log (``-v``), the same line a person would read.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

from personseg.data.split import split_ids
from personseg.netutil import free_port

REPO = Path(__file__).resolve().parents[1]
EPOCHS = 4
FLAGS = ["--width", "8", "--size", "64", "--lr", "3e-3", "--composite", "0", "--threads", "1", "--workers", "0"]
# The two-rank run sees the same global batches and per-sample augmentations as the one-rank run (the
# DistributedSampler deals one shuffled order out to the ranks), but BatchNorm statistics come from half
# batches and each rank normalises its loss over its own pixels, so the weights drift apart a little.
# After 4 epochs val IoU still climbs ~0.1-0.3 per epoch on 15 val images: 0.1 is under half an epoch.
IOU_TOLERANCE = 0.1


def _env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(REPO), "PERSONSEG_THREADS": "1"}


def _personseg(*args: str, env: dict[str, str] | None = None, timeout: float = 240) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "personseg", *args], capture_output=True, text=True,
                          env=env or _env(), timeout=timeout, cwd=REPO)


def _samples(log: str) -> dict[tuple[int, int], list[str]]:
    """{(rank, epoch): ids} from the ranks' debug lines."""
    found = {}
    for rank, epoch, ids in re.findall(r"^rank (\d+) epoch (\d+) samples (\S+)$", log, re.M):
        found[int(rank), int(epoch)] = ids.split(",")
    return found


@pytest.fixture(scope="module")
def one_rank(tiny_dataset, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("ddp") / "one"
    result = _personseg("train", "--data", str(tiny_dataset), "--epochs", str(EPOCHS), *FLAGS, "--out", str(out))
    assert result.returncode == 0, result.stderr
    return out


def test_two_ranks_under_torchrun_see_disjoint_samples_and_match_one_rank(tiny_dataset, one_rank, tmp_path):
    """The contract Kubeflow Trainer's torch runtime uses: one torchrun per node, static rendezvous."""
    out, port = tmp_path / "two", free_port()
    nodes = [subprocess.Popen(
        [sys.executable, "-m", "torch.distributed.run", "--nnodes", "2", "--node-rank", str(rank),
         "--nproc-per-node", "1", "--master-addr", "127.0.0.1", "--master-port", str(port),
         "-m", "personseg", "-v", "train", "--data", str(tiny_dataset), "--epochs", str(EPOCHS), *FLAGS,
         "--out", str(out)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=_env(), cwd=REPO)
        for rank in (0, 1)]
    logs = [node.communicate(timeout=300) for node in nodes]
    assert [node.returncode for node in nodes] == [0, 0], logs
    seen = _samples(logs[0][1] + logs[1][1])
    train = split_ids(sorted(p.stem for p in (tiny_dataset / "images").iterdir()), tiny_dataset).train
    padding = -len(train) % 2  # DistributedSampler repeats samples to give every rank as many
    for epoch in range(1, EPOCHS + 1):
        a, b = seen[0, epoch], seen[1, epoch]
        assert len(a) == len(b) == (len(train) + padding) // 2
        assert set(a) | set(b) == set(train) and len(set(a) & set(b)) == padding
    assert seen[0, 1] != seen[0, 2]  # reshuffled every epoch
    assert "best val IoU" in logs[0][0] and "best val IoU" not in logs[1][0]  # rank 0 reports
    two = json.loads((out / "metrics.json").read_text())
    one = json.loads((one_rank / "metrics.json").read_text())
    assert min(one["val_iou"], two["val_iou"]) > 0.15  # both learned something: the comparison means something
    assert abs(one["val_iou"] - two["val_iou"]) <= IOU_TOLERANCE, (one["history"], two["history"])
    card = json.loads((out / "config.json").read_text())
    assert card["ranks"] == 2


def test_a_dying_rank_fails_the_run_by_name_and_the_state_resumes_on_one_rank(tiny_dataset, tmp_path):
    out, ckpt = tmp_path / "m", tmp_path / "ckpt"
    env = {**_env(), "PERSONSEG_FAULT_EXIT": "1:2"}  # rank 1 exits as epoch 2 starts
    start = time.monotonic()
    failed = _personseg("train", "--data", str(tiny_dataset), "--epochs", "2", *FLAGS, "--nproc", "2",
                        "--dist-timeout", "60", "--checkpoint-dir", str(ckpt), "--out", str(out), env=env)
    elapsed = time.monotonic() - start
    assert failed.returncode == 2, failed.stderr
    assert re.search(r"personseg train: error: --nproc 2: training failed: rank 1 failed \(exit code 13\)",
                     failed.stderr), failed.stderr[-2000:]
    assert elapsed < 60 + 30  # the launcher notices at once; the timeout bounds the worst case
    assert not out.exists()
    state = ckpt / "train_state.pt"
    assert state.is_file()  # rank 0 wrote epoch 1 before rank 1 died
    resumed = _personseg("train", "--data", str(tiny_dataset), "--epochs", "2", *FLAGS, "--resume", str(state),
                         "--out", str(out))
    assert resumed.returncode == 0, resumed.stderr
    history = json.loads((out / "metrics.json").read_text())["history"]
    assert [row["epoch"] for row in history] == [1, 2]


def test_nproc_inside_a_torchrun_rank_is_refused(tiny_dataset, tmp_path, monkeypatch):
    from personseg.errors import UserError
    from personseg.training.step import TrainConfig, run

    for name, value in {"RANK": "0", "WORLD_SIZE": "2", "LOCAL_RANK": "0", "MASTER_ADDR": "127.0.0.1",
                        "MASTER_PORT": "1"}.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(UserError, match="--nproc 2: this process is already rank 0 of 2"):
        run(TrainConfig(data=str(tiny_dataset), nproc=2), tmp_path / "m")


def test_the_ranks_get_the_flags_they_were_given():
    """``--nproc`` rebuilds each rank's command line from the config: every field must survive."""
    from personseg.cli import build_parser
    from personseg.commands.train import config_from_args
    from personseg.training.step import TrainConfig, cli_args

    cfg = TrainConfig(data="d", model="unet", decoder="transposed", width=12, size=96, epochs=3, batch_size=6,
                      lr=0.5, weight_decay=0.25, seed=7, augment=False, skip_invalid=True, threads=3, workers=2,
                      device="cpu", precision="bf16", nproc=1, dist_timeout=12.5)
    defaults = TrainConfig(data="d")
    assert all(getattr(cfg, f) != getattr(defaults, f) for f in ("decoder", "width", "augment", "skip_invalid",
                                                                  "workers", "precision", "dist_timeout"))
    args = build_parser().parse_args(cli_args(cfg, "o", resume="r", checkpoint_dir="c"))
    assert config_from_args(args) == cfg and (args.out, args.resume, args.checkpoint_dir) == ("o", "r", "c")


def test_failures_are_described_cause_first():
    from types import SimpleNamespace

    from personseg.training.launch import describe_failures

    text = describe_failures({0: SimpleNamespace(exitcode=-15, timestamp=20),
                              1: SimpleNamespace(exitcode=13, timestamp=10)})
    assert text == "rank 1 failed (exit code 13); rank 0 failed (killed by signal 15)"
    same_second = describe_failures({0: SimpleNamespace(exitcode=-15, timestamp=10),
                                     1: SimpleNamespace(exitcode=13, timestamp=10)})
    assert same_second == text  # the rank the launcher stopped is not the cause


def test_a_torchrun_rank_joins_gloo_with_the_timeout_it_was_given(tiny_dataset, tmp_path, monkeypatch):
    """The group timeout is what turns a hung peer into an error; it must reach init_process_group."""
    from datetime import timedelta

    import torch.distributed as dist

    from personseg.training.step import TrainConfig, run

    for name, value in {"RANK": "1", "WORLD_SIZE": "2", "LOCAL_RANK": "1", "LOCAL_WORLD_SIZE": "2",
                        "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": "1"}.items():
        monkeypatch.setenv(name, value)
    calls = []

    class Joined(Exception):
        pass

    def fake_init(backend, timeout):
        calls.append((backend, timeout))
        raise Joined

    monkeypatch.setattr(dist, "init_process_group", fake_init)
    with pytest.raises(Joined):
        run(TrainConfig(data=str(tiny_dataset), device="cpu", dist_timeout=7, threads=1), tmp_path / "m")
    assert calls == [("gloo", timedelta(seconds=7))]


def test_a_per_rank_batch_under_two_is_refused_before_any_rank_starts(tiny_dataset, tmp_path):
    """4 images over 4 ranks is one per rank: every batch would be skipped and nothing trained."""
    from personseg.errors import UserError
    from personseg.training.loop import rank_batch
    from personseg.training.step import TrainConfig, run

    assert rank_batch(8, 4) == 2 and rank_batch(3, 1) == 3
    with pytest.raises(UserError, match=r"--batch-size 4 over 4 ranks gives 1 image per rank; BatchNorm needs at "
                                        r"least 2, .*use --batch-size >= 8 or at most 2 ranks"):
        run(TrainConfig(data=str(tiny_dataset), width=8, size=64, epochs=1, batch_size=4, nproc=4), tmp_path / "m")
    assert not (tmp_path / "m").exists()


def test_the_pipeline_refuses_more_ranks_than_its_batch_feeds():
    from personseg.errors import UserError
    from personseg.steps.train import Nodes, train_step
    from personseg.training.step import TrainConfig

    with pytest.raises(UserError, match=r"train_nodes 4 x train_gpus 2: 8 ranks share a batch of 8 images, under 2 "
                                        r"per rank, and BatchNorm needs 2: nothing would train; use at most 4 ranks"):
        train_step(TrainConfig(data="s3://b/d", batch_size=8), "s3://b/m", Nodes(nodes=4, gpus=2))


def test_an_epoch_without_an_optimizer_step_fails(tiny_dataset, monkeypatch):
    """A silent no-op is a failure: were one-image batches ever let through, the epoch says it trained nothing."""
    from personseg.data.prescan import prescan
    from personseg.errors import UserError
    from personseg.models import build_model
    from personseg.training import loop

    monkeypatch.setattr(loop, "rank_batch", lambda batch, world: 1)  # what ceil(batch / world) gave 4 ranks of 4
    data = prescan(tiny_dataset, 64)
    train, val = data.subset(data.ids[:3]), data.subset(data.ids[3:5])
    with pytest.raises(UserError, match=r"epoch 1: no optimizer step ran \(3 training image\(s\), 1 per batch on "
                                        r"each of 1 rank\(s\)\); nothing was trained"):
        loop.fit(build_model("unet", decoder="bilinear", width=8), train, val, loop.FitConfig(epochs=1, batch_size=1))


def test_batchnorm_is_synchronised_across_ranks_where_torch_can():
    import torch

    from personseg.models import build_model
    from personseg.training.device import Placement
    from personseg.training.distributed import Group
    from personseg.training.loop import sync_batchnorm

    def norms(model):
        return {type(m).__name__ for m in model.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)}

    cuda = Placement(torch.device("cuda"))
    assert norms(sync_batchnorm(build_model("unet", width=8), Group(0, 2), cuda)) == {"SyncBatchNorm"}
    assert norms(sync_batchnorm(build_model("unet", width=8), Group(0, 1), cuda)) == {"BatchNorm2d"}  # one rank
    # torch's SyncBatchNorm refuses CPU tensors, so ranks on CPUs keep per-rank statistics
    assert norms(sync_batchnorm(build_model("unet", width=8), Group(0, 2), Placement())) == {"BatchNorm2d"}
