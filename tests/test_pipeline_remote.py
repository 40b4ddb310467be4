"""``personseg pipeline submit|schedule`` against the KFP API stand-in (tests/kfp_fixtures.py).

The stand-in is not a cluster: see kfp_fixtures' docstring for what the real API server does that
it does not (validation, auth, namespaces, execution). The one server behaviour these tests rely
on, re-serialized specs, it imitates on purpose.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from oneof_package import oneof_package

from personseg.cli import main

if TYPE_CHECKING:
    from kfp_fixtures import StubKfp

pytest_plugins = ("kfp_fixtures",)  # the stand-in and compiled-package fixtures


def test_submit_sends_the_compiled_spec_and_typed_params(stub: tuple[str, StubKfp], capsys) -> None:
    host, state = stub
    assert main(["pipeline", "submit", "--host", host, "--param", "epochs=3", "--param", "min_speedup=2.5",
                 "--run-name", "nightly-1", "--experiment", "seg"]) == 0
    assert "submitted run " + state.runs[0]["run_id"] in capsys.readouterr().out
    assert [e["display_name"] for e in state.experiments] == ["seg"]
    (run,) = state.runs
    assert run["display_name"] == "nightly-1" and run["experiment_id"] == "exp-1"
    assert run["pipeline_spec"]["pipeline_spec"]["pipelineInfo"]["name"] == "person-segmentation"
    platform = run["pipeline_spec"]["platform_spec"]["platforms"]["kubernetes"]["deploymentSpec"]["executors"]
    assert platform["exec-deploy"]["secretAsEnv"][0]["keyToEnv"][0]["envVar"] == "MINIO_ACCESS_KEY"
    assert run["runtime_config"]["parameters"] == {"epochs": 3, "min_speedup": 2.5}
    assert {auth for *_, auth in state.requests} == {"Bearer test-token"}
    assert main(["pipeline", "submit", "--host", host, "--run-name", "again", "--experiment", "seg"]) == 0
    assert len(state.experiments) == 1 and len(state.runs) == 2  # the experiment is reused


def test_schedule_is_idempotent_by_name(stub: tuple[str, StubKfp], capsys) -> None:
    host, state = stub
    base = ["pipeline", "schedule", "--host", host, "--name", "retrain", "--param", "epochs=5"]
    assert main([*base, "--cron", "0 3 * * *"]) == 0
    assert "retrain: created" in capsys.readouterr().out
    (rec,) = state.recurring
    assert rec["display_name"] == "retrain" and rec["trigger"]["cron_schedule"]["cron"] == "0 0 3 * * *"
    assert rec["mode"] == "ENABLE" and rec["no_catchup"] is True and int(rec["max_concurrency"]) == 1
    assert rec["runtime_config"]["parameters"] == {"epochs": 5}
    assert rec["pipeline_spec"]["pipeline_spec"]["pipelineInfo"]["name"] == "person-segmentation"

    assert main([*base, "--cron", "0 3 * * *"]) == 0
    assert "retrain: unchanged" in capsys.readouterr().out
    assert [r["recurring_run_id"] for r in state.recurring] == [rec["recurring_run_id"]]
    assert sum(1 for m, p, *_ in state.requests if m == "POST" and p.endswith("/recurringruns")) == 1

    assert main([*base, "--cron", "30 4 * * 1"]) == 0
    assert "retrain: replaced" in capsys.readouterr().out
    assert ("DELETE", f"{state.API}/recurringruns/{rec['recurring_run_id']}") in [(m, p) for m, p, *_ in state.requests]
    (new,) = state.recurring
    assert new["trigger"]["cron_schedule"]["cron"] == "0 30 4 * * 1"


def test_bad_cron_and_missing_package_are_user_errors(stub: tuple[str, StubKfp], tmp_path, capsys) -> None:
    host, state = stub
    assert main(["pipeline", "schedule", "--host", host, "--cron", "every day"]) == 2
    assert "--cron 'every day'" in capsys.readouterr().err
    assert main(["pipeline", "submit", "--host", host, "--package", str(tmp_path / "nope.yaml")]) == 2
    assert "nope.yaml: no such file" in capsys.readouterr().err
    assert state.runs == [] and state.recurring == []


def _schedule(host: str, package: Path | None = None, *extra: str) -> int:
    args = ["pipeline", "schedule", "--host", host, "--name", "retrain", "--cron", "0 3 * * *", "--param", "epochs=5"]
    return main([*args, *(["--package", str(package)] if package else []), *extra])


def _secret_keys(rec: dict) -> set[str]:
    executors = rec["pipeline_spec"]["platform_spec"]["platforms"]["kubernetes"]["deploymentSpec"]["executors"]
    return {k["secretKey"] for k in executors["exec-deploy"]["secretAsEnv"][0]["keyToEnv"]}


def test_schedule_replaces_a_changed_spec_and_keeps_the_same_one(stub: tuple[str, StubKfp], packages, capsys) -> None:
    """Same cron and params but a recompiled, changed package used to be "unchanged"."""
    host, state = stub
    assert _schedule(host, packages["a"]) == 0
    (first,) = state.recurring
    assert _secret_keys(first) == {"accesskey", "secretkey"}

    assert _schedule(host, packages["a_same"]) == 0  # same spec written by another kfp: a no-op
    assert "retrain: unchanged" in capsys.readouterr().out
    assert state.count("POST", "/recurringruns") == 1 and state.count("DELETE", first["recurring_run_id"]) == 0

    assert _schedule(host, packages["b"]) == 0
    assert "retrain: replaced" in capsys.readouterr().out
    (new,) = state.recurring
    assert new["recurring_run_id"] != first["recurring_run_id"]
    assert _secret_keys(new) == {"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"}  # the new spec runs now

    assert _schedule(host, packages["b"]) == 0
    assert "retrain: unchanged" in capsys.readouterr().out
    assert state.count("POST", "/recurringruns") == 2


def test_schedule_keeps_the_old_one_when_the_new_one_is_refused(stub: tuple[str, StubKfp], packages) -> None:
    host, state = stub
    assert _schedule(host, packages["a"]) == 0
    (old,) = state.recurring
    state.fail[f"POST {state.API}/recurringruns"] = (400, {"message": "Invalid input error: bad spec"})
    assert _schedule(host, packages["b"]) == 2
    assert [r["recurring_run_id"] for r in state.recurring] == [old["recurring_run_id"]]


def test_schedule_and_submit_an_uploaded_version(stub: tuple[str, StubKfp], packages, capsys) -> None:
    host, state = stub
    upload = ["pipeline", "upload", "--host", host]
    assert main([*upload, "--package", str(packages["a"]), "--version", "v-a"]) == 0
    (va,) = state.versions
    assert _schedule(host, None, "--pipeline-version", "v-a") == 0
    (rec,) = state.recurring
    assert rec["pipeline_version_reference"] == {"pipeline_id": va["pipeline_id"],
                                                 "pipeline_version_id": va["pipeline_version_id"]}
    assert "pipeline_spec" not in rec  # the server runs its stored version, not a local spec
    capsys.readouterr()
    assert _schedule(host, None, "--pipeline-version", va["pipeline_version_id"]) == 0  # by id: the same version
    assert "retrain: unchanged" in capsys.readouterr().out

    assert _schedule(host, packages["a"]) == 0  # the local package instead of the version: replaced
    assert "retrain: replaced" in capsys.readouterr().out
    assert main([*upload, "--package", str(packages["b"]), "--version", "v-b"]) == 0
    vb = state.versions[-1]
    assert _schedule(host, None, "--pipeline-version", "v-b") == 0
    assert "retrain: replaced" in capsys.readouterr().out
    (rec,) = state.recurring
    assert rec["pipeline_version_reference"]["pipeline_version_id"] == vb["pipeline_version_id"]

    assert main(["pipeline", "submit", "--host", host, "--pipeline-version", "v-a", "--param", "epochs=2"]) == 0
    (run,) = state.runs
    assert run["pipeline_version_reference"]["pipeline_version_id"] == va["pipeline_version_id"]
    assert run["runtime_config"]["parameters"] == {"epochs": 2} and "pipeline_spec" not in run

    capsys.readouterr()
    assert main(["pipeline", "submit", "--host", host, "--pipeline-version", "v-zz"]) == 2
    err = capsys.readouterr().err
    assert "--pipeline-version v-zz" in err and "v-a" in err and len(err.splitlines()) == 1
    assert len(state.runs) == 1


# Releases whose driver code was read (tests/kfp_driver.py cites the files): the supported range's ends
# and the last release of each artifact-selector behaviour.
BACKENDS = ("2.5.0", "2.14.0", "2.16.1", "2.17.0")


@pytest.mark.parametrize("tag", BACKENDS)
@pytest.mark.parametrize("nodes", [1, 2])
def test_every_supported_backend_feeds_swap_the_model_train_made(stub: tuple[str, StubKfp], tag: str,
                                                                 nodes: int) -> None:
    """Played by the driver stand-in as ``tag`` resolves artifacts: the run reaches deploy on both train paths."""
    host, state = stub
    state.tag_name = tag
    assert main(["pipeline", "submit", "--host", host, "--param", f"train_nodes={nodes}"]) == 0
    (run,) = state.runs
    played = state.plays[run["run_id"]]
    assert played.state == "SUCCEEDED", played.error
    assert played.ran == ["check-data", "condition-1/ingest", "condition-1/train-pod-gpus", "condition-1/train",
                          "condition-1/swap", "condition-1/quantize", "condition-1/evaluate",
                          "condition-1/condition-2/deploy"]
    for consumer in ("swap", "quantize", "evaluate"):
        assert played.artifact_inputs[f"condition-1/{consumer}"]["bilinear"] == "condition-1/train/model"


@pytest.mark.parametrize(("tag", "flag", "state"), [
    ("2.5.0", 1, "FAILED"), ("2.16.1", 1, "FAILED"),  # the last selector is the skipped else branch
    ("2.5.0", 0, "SUCCEEDED"), ("2.16.1", 0, "SUCCEEDED"),  # the else branch ran and is last: right by luck
    ("2.17.0", 1, "SUCCEEDED"), ("2.17.0", 0, "SUCCEEDED"), (None, 1, "SUCCEEDED")])  # no tag: as the newest
def test_the_driver_stand_in_resolves_an_artifact_oneof_as_each_release_does(tmp_path: Path, tag: str | None,
                                                                          flag: int, state: str) -> None:
    """Before 2.17.0 the driver takes the last selector (driver.go resolveUpstreamArtifacts 2.4.0/2.5.0,
    resolve.go GetProducerTask 2.14.0-2.16.1); 2.17.0 takes the branch that completed (#13437)."""
    from kfp_driver import play

    played = play(oneof_package(tmp_path), {"flag": flag}, tag)
    assert played.state == state, played.error
    if state == "FAILED":
        assert "did not run (its branch was skipped)" in played.error and not any(p.endswith("/use") or p == "use"
                                                                                 for p in played.ran)
    else:
        (producer,) = [p for p in played.ran if p.endswith("/make") or p.endswith("/make-2")]
        assert played.artifact_inputs["use"]["data"] == f"{producer}/out"


def test_the_driver_stand_in_fails_a_task_reading_an_output_it_does_not_wait_for(tmp_path: Path) -> None:
    """Argo starts a task after its dependentTasks only (argocompiler/dag.go, 2.5.0)."""
    from kfp_driver import play

    spec = oneof_package(tmp_path)
    spec["root"]["dag"]["tasks"]["use"]["dependentTasks"] = []
    played = play(spec, {"flag": 1}, "2.17.0")
    assert played.state == "FAILED" and "without depending on it" in played.error
