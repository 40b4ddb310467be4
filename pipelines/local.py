"""Run the whole pipeline on this machine with ``kfp.local`` (each step a subprocess of this Python).

The caller provides object storage through the environment (``MINIO_*``): the CLI starts the local
S3 server when none is configured. ``deploy_target`` defaults to ``local``, so the gate's deploy
branch starts the model server as a process on 127.0.0.1.
"""

from dataclasses import dataclass
from pathlib import Path
from typing import Any

LOCAL_DEFAULTS = {"deploy_target": "local", "s3_endpoint": ""}


@dataclass(frozen=True)
class LocalRun:
    """Where a local run left its results."""

    pipeline_root: Path
    report: Path
    params: dict[str, Any]


def run_local(params: dict[str, Any], pipeline_root: str | Path) -> LocalRun:
    """Run ``person_segmentation`` with ``params`` (over the local defaults); outputs go under ``pipeline_root``."""
    from kfp import local

    from pipelines.person_segmentation import build_pipeline

    root = Path(pipeline_root).resolve()
    root.mkdir(parents=True, exist_ok=True)
    args = {**LOCAL_DEFAULTS, **params}
    local.init(runner=local.SubprocessRunner(use_venv=False), pipeline_root=str(root), raise_on_error=True)
    task = build_pipeline(retries=0)(**args)
    return LocalRun(root, Path(task.output.path), args)


def find_outputs(pipeline_root: str | Path, task: str) -> dict[str, Path]:
    """``{output name: path}`` of task ``task`` in the newest run under ``pipeline_root``."""
    runs = sorted((p for p in Path(pipeline_root).iterdir() if p.is_dir()), key=lambda p: p.stat().st_mtime)
    if not runs:
        return {}
    folder = runs[-1] / task
    return {p.name: p for p in folder.iterdir()} if folder.is_dir() else {}
