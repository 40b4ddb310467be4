"""One deploy at a time per name: the deploy Lease, against the STAND-IN Kubernetes API.

``FakeKubeApi`` (tests/deploy_fixtures.py) answers a POST of an existing Lease with 409 AlreadyExists,
a PUT with a stale resourceVersion and a DELETE whose uid precondition fails with 409 Conflict, as the
API server's generic registry store does (k8s.io/apiserver pkg/registry/generic/registry/store.go,
Kubernetes 1.31). What it does not do: Lease garbage collection (there is none for Leases either),
admission, and clocks other than this machine's.
"""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from deploy_fixtures import FakeKubeApi, RecordingRegistry, role_rules, start_model_server, tiny_onnx_model

from personseg.deploy.config import DeployConfig
from personseg.deploy.lease import deploy_lease, lease_name
from personseg.deploy.outcome import DeployBusy, DeployFailed
from personseg.deploy.step import run
from personseg.serving.smoke_probe import card_entry

NS = "serving"


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory):
    base = tmp_path_factory.mktemp("lease")
    model = tiny_onnx_model(base / "model")
    server = start_model_server(model, base / "server.log")
    yield server, card_entry(model)
    server.stop()


def registry(probe: dict) -> RecordingRegistry:
    return RecordingRegistry({"personseg": 3}, {("personseg", "candidate"): 3}, smoke=probe)


def config(**kw) -> DeployConfig:
    return DeployConfig(**{"model": "models:/personseg@candidate", "namespace": NS, "timeout": 5.0, **kw})


def test_a_deploy_while_another_holds_the_lease_changes_nothing(served):
    server, probe = served
    api = FakeKubeApi(proxy_to=server.url, role_rules=role_rules()).start()
    try:
        with deploy_lease(api.kube(), NS, "personseg", 60):
            with pytest.raises(DeployBusy, match="another deploy of 'personseg' in namespace 'serving' is running"):
                run(config(), api=api.kube(), registry=lambda: registry(probe), poll=0.05)
            assert api.calls("PATCH") == [], "the refused deploy applied something"
        assert api.get("leases", NS, lease_name("personseg")) is None, "the holder released its Lease"
        assert run(config(), api=api.kube(), registry=lambda: registry(probe), poll=0.05).status == "deployed"
        assert api.get("leases", NS, lease_name("personseg")) is None
    finally:
        api.stop()


def test_concurrent_deploys_of_one_name_one_wins_one_is_refused(served):
    server, probe = served
    api = FakeKubeApi(proxy_to=server.url).start()
    start = threading.Barrier(2)
    outcomes: list[str] = []

    def deploy(version: int) -> None:
        start.wait()
        try:
            run(config(model=f"models:/personseg:{version}"), api=api.kube(), registry=lambda: registry(probe),
                poll=0.05)
            outcomes.append("deployed")
        except DeployBusy:
            outcomes.append("busy")

    try:
        threads = [threading.Thread(target=deploy, args=(v,)) for v in (2, 3)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert sorted(outcomes) == ["busy", "deployed"]
    finally:
        api.stop()


def test_an_expired_lease_of_a_dead_deploy_is_taken_over_and_a_failed_deploy_releases_it(served):
    server, probe = served
    api = FakeKubeApi(proxy_to=server.url, role_rules=role_rules()).start()
    api.put("leases", {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
                       "metadata": {"name": lease_name("personseg"), "namespace": NS},
                       "spec": {"holderIdentity": "dead-pod/1/abc", "leaseDurationSeconds": 30,
                                "acquireTime": "2020-01-01T00:00:00.000000Z",
                                "renewTime": "2020-01-01T00:00:00.000000Z"}})
    try:
        assert run(config(), api=api.kube(), registry=lambda: registry(probe), poll=0.05).status == "deployed"
        assert [r.method for r in api.calls() if "/leases" in r.path] == ["POST", "GET", "PUT", "DELETE"]
        assert api.get("leases", NS, lease_name("personseg")) is None
        failing = FakeKubeApi(failure=lambda obj: "ImagePullBackOff", proxy_to=server.url).start()
        try:
            with pytest.raises(DeployFailed):
                run(config(), api=failing.kube(), registry=lambda: registry(probe), poll=0.05)
            assert failing.get("leases", NS, lease_name("personseg")) is None
        finally:
            failing.stop()
    finally:
        api.stop()


def test_a_lease_taken_over_meanwhile_is_not_deleted_by_the_old_holder(served, tmp_path: Path):
    api = FakeKubeApi().start()
    try:
        kube = api.kube()
        with deploy_lease(kube, NS, "personseg", 60):
            # it expired and another deploy replaced it: a new object (new uid) of the same name
            api.objects.pop(("leases", NS, lease_name("personseg")))
            api.put("leases", {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
                               "metadata": {"name": lease_name("personseg"), "namespace": NS},
                               "spec": {"holderIdentity": "other"}})
        assert api.get("leases", NS, lease_name("personseg"))["spec"]["holderIdentity"] == "other"
    finally:
        api.stop()


def test_a_local_deploy_while_another_runs_is_refused_before_starting_a_server(tmp_path: Path):
    from personseg.deploy.local import exclusive, read_state

    state = tmp_path / "state"
    state.mkdir()
    model = tiny_onnx_model(tmp_path / "model")
    with exclusive(state, "personseg"):
        with pytest.raises(DeployBusy, match="another local deploy of 'personseg' is running"):
            run(DeployConfig(model=str(model), target="local", timeout=60), state_dir=state)
    assert read_state(state, "personseg") is None and not list(state.glob("*.log")), "a server was started"
