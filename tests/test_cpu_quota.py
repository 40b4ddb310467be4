"""Every step runs as many threads as the pod's CPU quota allows, not as many as the node has cores.

A fake cgroup directory (``PERSONSEG_CGROUP_ROOT``) with ``cpu.max = 50000 100000`` (half a CPU) must
give one thread everywhere: torch in training and swap, ONNX Runtime in evaluate, quantize (our own
sessions and INC's), the peak probe and the server. This 2-core box has affinity 2, so 1 can only come
from the quota. Stand-in: the real kernel file is read the same way, but in a pod it sits at
/sys/fs/cgroup through a cgroup namespace; a container without one (host cgroup paths) shows the
root cgroup there, which has no ``cpu.max``, and the quota is then not seen (affinity is used).
"""

import os

import pytest
import torch
from serving_fixtures import make_tiny_model, running_server

from personseg.cpuquota import cgroup_cpu_limit, cpu_quota, default_threads
from personseg.runtime import load_predictor
from personseg.serving.settings import ServeSettings

AFFINITY = len(os.sched_getaffinity(0))
needs_two = pytest.mark.skipif(AFFINITY < 2, reason="needs 2+ usable CPUs to tell the quota from affinity")


def _cgroup(root, v2=None, v1=None):
    root.mkdir(parents=True, exist_ok=True)
    if v2 is not None:
        (root / "cpu.max").write_text(v2 + "\n")
    if v1 is not None:
        (root / "cpu").mkdir()
        (root / "cpu" / "cpu.cfs_quota_us").write_text(v1[0])
        (root / "cpu" / "cpu.cfs_period_us").write_text(v1[1])
    return root


@pytest.mark.parametrize("v2, v1, limit, threads", [
    ("200000 100000", None, 2.0, min(2, AFFINITY)),
    ("50000 100000", None, 0.5, 1),
    ("150000 100000", None, 1.5, 1),  # rounded down: a second thread would be throttled
    ("max 100000", None, None, AFFINITY),
    (None, ("200000", "100000"), 2.0, min(2, AFFINITY)),
    (None, ("-1", "100000"), None, AFFINITY),
    (None, None, None, AFFINITY),
])
def test_threads_come_from_the_cgroup_quota_capped_by_affinity(tmp_path, monkeypatch, v2, v1, limit, threads):
    root = _cgroup(tmp_path / "cg", v2, v1)
    assert cgroup_cpu_limit(root) == limit and cpu_quota(root) == threads
    monkeypatch.delenv("PERSONSEG_THREADS", raising=False)
    monkeypatch.setenv("PERSONSEG_CGROUP_ROOT", str(root))
    assert default_threads() == threads and ServeSettings().inference_threads == threads
    monkeypatch.setenv("PERSONSEG_THREADS", "3")
    assert default_threads() == 3 and ServeSettings(threads=3).inference_threads == 3


def test_unreadable_quota_is_named_and_ignored(tmp_path, caplog):
    root = _cgroup(tmp_path / "cg", "lots 100000")
    assert cpu_quota(root) == AFFINITY
    assert "cpu.max: cannot read a CPU quota from 'lots' '100000'" in caplog.text


@pytest.fixture
def half_cpu(tmp_path, monkeypatch):
    """A cgroup quota of half a CPU; torch's thread count put back afterwards."""
    if AFFINITY < 2:
        pytest.skip("needs 2+ usable CPUs to tell the quota from affinity")
    monkeypatch.delenv("PERSONSEG_THREADS", raising=False)
    monkeypatch.setenv("PERSONSEG_CGROUP_ROOT", str(_cgroup(tmp_path / "cg", "50000 100000")))
    before = torch.get_num_threads()
    torch.set_num_threads(AFFINITY)  # what a step would otherwise inherit
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def bilinear(tiny_dataset, tmp_path_factory):
    from personseg.training.step import TrainConfig, run

    out = tmp_path_factory.mktemp("quota") / "bilinear"
    run(TrainConfig(data=str(tiny_dataset), width=8, size=64, epochs=1, threads=2), out)
    return out


def test_training_runs_on_the_quota(half_cpu, tiny_dataset, tmp_path):
    from personseg.training.step import TrainConfig, run

    run(TrainConfig(data=str(tiny_dataset), width=8, size=64, epochs=1), tmp_path / "m")
    assert torch.get_num_threads() == 1


def test_swap_runs_on_the_quota(half_cpu, bilinear, tiny_dataset, tmp_path):
    from personseg.swap.step import SwapConfig, run

    run(SwapConfig(model=str(bilinear), data=str(tiny_dataset), design="exact", epochs=0), tmp_path / "s")
    assert torch.get_num_threads() == 1


def test_evaluate_runs_torch_and_onnx_on_the_quota(half_cpu, sessions, bilinear, tiny_dataset, tmp_path):
    from personseg.evaluate.step import EvalConfig, run
    from personseg.quantize.step import export

    onnx_model = export(str(bilinear), tmp_path / "onnx")
    report = run(EvalConfig(models=(f"pt={bilinear}", f"ort={onnx_model}"), data=str(tiny_dataset), rounds=1,
                            warmup=0, measure_peak=False), tmp_path / "eval.json")
    assert report["threads"] == 1 and torch.get_num_threads() == 1 and sessions == [1]


def test_peak_probe_runs_on_the_quota(half_cpu, sessions):
    from personseg.evaluate.peak import measure_peaks

    measure_peaks(seconds=0.0)  # builds both GEMM sessions, runs each once
    assert sessions == [1, 1]


def test_quantize_runs_every_session_on_the_quota(half_cpu, sessions, bilinear, tiny_dataset, tmp_path):
    from personseg.quantize.step import QuantizeConfig, run

    run(QuantizeConfig(model=str(bilinear), data=str(tiny_dataset), calibration=8, max_trials=1,
                       tolerable_iou_loss=0.5, min_agreement=0.01), tmp_path / "q")
    assert len(sessions) >= 4 and set(sessions) == {1}  # FP32 and INT8 masks, INC calibration and tuning


def test_server_runs_on_the_quota(half_cpu, tmp_path):
    model = make_tiny_model(tmp_path / "tiny")
    with running_server(ServeSettings(model_uri=str(model), name="seg")) as server:
        service = server.service
        assert service.model.threads == 1 and service.pool._max_workers == 2
        assert service.model.predictor.session.get_session_options().intra_op_num_threads == 1
    assert load_predictor(model).threads == 1
