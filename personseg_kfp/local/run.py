"""Run the whole pipeline on this machine with ``kfp.local``: each step a subprocess of this Python, or a container.

What runs is the compiled package a cluster gets: the pipeline is compiled, loaded back with
``kfp.components.load_component_from_file`` and run, so the local run and a cluster run have the same
tasks, edges and conditions. Only the tasks' retry policies are dropped here: on one machine a
retry only delays the error a person needs to see (kfp.local honours them, with their backoff).

The caller provides object storage through the environment (``MINIO_*``): the CLI starts the local
S3 server when none is configured. ``deploy_target`` defaults to ``local``, so the gate's deploy
branch starts the model server as a process on 127.0.0.1.

With ``runner="container"`` each step runs in the image the compiled YAML names, on a Docker engine or
podman (``personseg_kfp.local.containers``); the caller passes the engine's ``DOCKER_HOST`` in the environment,
and ``deploy_target`` defaults to ``container`` (the serving image on the same engine).
"""

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

LOCAL_DEFAULTS = {"deploy_target": "local", "s3_endpoint": ""}
RUNNERS = ("subprocess", "container")


@dataclass(frozen=True)
class LocalRun:
    """Where a local run left its results."""

    pipeline_root: Path
    run_dir: Path
    report: Path
    params: dict[str, Any]


def run_local(params: dict[str, Any], pipeline_root: str | Path, runner: str = "subprocess") -> LocalRun:
    """Run ``person_segmentation`` with ``params`` (over the local defaults); outputs go under ``pipeline_root``.

    ``runner`` is ``subprocess`` (this Python runs each step) or ``container`` (the step image does).
    """
    import contextlib
    import tempfile

    from kfp import components, local

    from personseg_kfp.pipeline import PACKAGE_FILE, compile_pipeline

    root = Path(pipeline_root).resolve()
    root.mkdir(parents=True, exist_ok=True)
    args = {**LOCAL_DEFAULTS, **params}
    with tempfile.TemporaryDirectory(prefix="personseg-pipeline-") as tmp:
        package = without_retries(compile_pipeline(Path(tmp) / PACKAGE_FILE))
        pipeline = components.load_component_from_file(str(package))
    if runner == "subprocess":
        local.init(runner=local.SubprocessRunner(use_venv=False), pipeline_root=str(root), raise_on_error=True)
        steps = contextlib.nullcontext()
    elif runner == "container":
        import uuid

        from personseg_kfp.local.containers import DEPLOY_TARGET, container_runner, containers_for_steps, step_access

        args = {**args, "deploy_target": params.get("deploy_target", DEPLOY_TARGET)}
        access = step_access(root, args["deploy_target"])
        local.init(runner=container_runner(access, uuid.uuid4().hex), pipeline_root=str(root), raise_on_error=True)
        steps = containers_for_steps(access)
    else:
        raise ValueError(f"runner {runner!r}: expected one of {', '.join(RUNNERS)}")
    with steps:
        pipeline(**args)
    run_dir = newest_run(root)
    # evaluate's report when the run trained; check_data's ("no new data since version N") when it did not
    report = next(p for p in (run_dir / "evaluate" / "report", run_dir / "check-data" / "report") if p.is_file())
    return LocalRun(root, run_dir, report, args)


def without_retries(package: Path) -> Path:
    """``package`` rewritten in place without its tasks' ``retryPolicy`` (nothing else changes)."""
    docs = list(yaml.safe_load_all(package.read_text()))
    spec = docs[0]
    for dag in [spec["root"]["dag"], *(c["dag"] for c in spec["components"].values() if "dag" in c)]:
        for task in dag["tasks"].values():
            task.pop("retryPolicy", None)
    package.write_text(yaml.safe_dump_all(docs, sort_keys=False))
    return package


def newest_run(pipeline_root: str | Path) -> Path:
    """The folder of the newest run under ``pipeline_root`` (kfp.local names them by pipeline and time)."""
    runs = sorted(p for p in Path(pipeline_root).iterdir() if p.is_dir() and not p.name.startswith("."))
    if not runs:  # names end in the start time (YYYY-MM-DD-HH-MM-SS-micro), so they sort by age
        raise FileNotFoundError(f"{pipeline_root}: no pipeline runs")
    return runs[-1]


def find_outputs(pipeline_root: str | Path, task: str) -> dict[str, Path]:
    """``{output name: path}`` of task ``task`` in the newest run under ``pipeline_root``."""
    try:
        folder = newest_run(pipeline_root) / task
    except FileNotFoundError:
        return {}
    return {p.name: p for p in folder.iterdir()} if folder.is_dir() else {}
