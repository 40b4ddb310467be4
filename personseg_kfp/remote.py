"""Submit the pipeline to a Kubeflow Pipelines endpoint, or schedule it for retraining.

A run executes either the local compiled package or a version registered with ``upload``
(``pipeline_version``, by name or id). Schedules are idempotent by name: the same name with the
same cron, parameters and pipeline (the package's spec hash, recorded in the schedule's
description, or the version id) changes nothing; anything else replaces the old schedule, so there
is never more than one schedule of a name in the experiment.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from personseg import __version__
from personseg.errors import UserError
from personseg_kfp.connection import Connection
from personseg_kfp.kfp_lists import by_name, paged
from personseg_kfp.pipeline import PIPELINE_NAME
from personseg_kfp.spec_id import Package, has_marker, load_package
from personseg_kfp.upload import Version, resolve_version

DEFAULT_EXPERIMENT = "person-segmentation"
DEFAULT_SCHEDULE = "person-segmentation-retrain"


def cron6(expr: str) -> str:
    """KFP's six-field cron (seconds first); a five-field crontab line gets ``0`` seconds."""
    fields = expr.split()
    if len(fields) == 5:
        return "0 " + " ".join(fields)
    if len(fields) == 6:
        return " ".join(fields)
    raise UserError(f"--cron {expr!r}: expected 5 fields (min hour day month weekday) or 6 (seconds first)")


@dataclass(frozen=True)
class Source:
    """What a run executes: a local package, or an uploaded pipeline version."""

    package: Package | None = None
    version: Version | None = None

    def kwargs(self) -> dict[str, Any]:
        """The ``kfp.Client`` arguments that select it."""
        if self.version:
            return {"pipeline_id": self.version.pipeline_id, "version_id": self.version.version_id}
        return {"pipeline_package_path": str(self.package.path)}

    def description(self) -> str:
        """What a schedule records about it (the UI shows it too)."""
        if self.version:
            return f"pipeline version {self.version.name} ({self.version.version_id})"
        return f"{self.package.marker} (scheduled by personseg {__version__})"

    def runs_in(self, recurring: Any) -> bool:
        """Whether an existing recurring run executes this same pipeline."""
        ref = getattr(recurring, "pipeline_version_reference", None)
        ref_id = getattr(ref, "pipeline_version_id", None) if ref else None
        if self.version:
            return ref_id == self.version.version_id
        return not ref_id and has_marker(getattr(recurring, "description", None), self.package)


def _source(conn: Connection, client: Any, package: Package | None, pipeline_version: str | None,
            pipeline_name: str) -> Source:
    if pipeline_version:
        return Source(version=resolve_version(conn, client, pipeline_name, pipeline_version))
    return Source(package=package)


def submit(conn: Connection, package: str | Path | None, params: dict[str, Any],
           experiment: str = DEFAULT_EXPERIMENT, run_name: str | None = None, client: Any = None,
           pipeline_version: str | None = None, pipeline_name: str = PIPELINE_NAME) -> str:
    """Start one run of the compiled package (or of an uploaded version); returns its run id."""
    pkg = None if pipeline_version else load_package(package)
    client = client or conn.client()
    with conn.errors():
        src = _source(conn, client, pkg, pipeline_version, pipeline_name)
        if src.version is None:
            result = client.create_run_from_pipeline_package(
                str(pkg.path), arguments=params, run_name=run_name, experiment_name=experiment,
                namespace=conn.namespace)
        else:
            exp = client.create_experiment(name=experiment, namespace=conn.namespace)
            stamp = datetime.datetime.now().strftime("%Y-%m-%d %H-%M-%S")
            result = client.run_pipeline(exp.experiment_id, run_name or f"{pipeline_name} {src.version.name} {stamp}",
                                         params=params, **src.kwargs())
    return str(result.run_id)


def _same(run: Any, cron: str, params: dict[str, Any], src: Source) -> bool:
    trigger = run.trigger.cron_schedule if run.trigger else None
    current = (run.runtime_config.parameters if run.runtime_config else None) or {}
    return bool(trigger) and trigger.cron == cron and current == params and src.runs_in(run)


def schedule(conn: Connection, package: str | Path | None, cron: str, params: dict[str, Any],
             name: str = DEFAULT_SCHEDULE, experiment: str = DEFAULT_EXPERIMENT, client: Any = None,
             pipeline_version: str | None = None, pipeline_name: str = PIPELINE_NAME) -> tuple[str, str]:
    """Create or update the recurring run ``name``; returns (recurring run id, what was done).

    A replacement is created before the old schedule is deleted, so a refused spec leaves the old
    schedule running rather than none.
    """
    cron = cron6(cron)
    pkg = None if pipeline_version else load_package(package)
    client = client or conn.client()
    with conn.errors():
        src = _source(conn, client, pkg, pipeline_version, pipeline_name)
        exp = client.create_experiment(name=experiment, namespace=conn.namespace)
        existing = [r for r in paged(client.list_recurring_runs, "recurring_runs", experiment_id=exp.experiment_id,
                                     filter=by_name(name)) if r.display_name == name]
        if len(existing) == 1 and _same(existing[0], cron, params, src):
            return str(existing[0].recurring_run_id), "unchanged"
        created = client.create_recurring_run(
            experiment_id=exp.experiment_id, job_name=name, description=src.description(), cron_expression=cron,
            params=params, max_concurrency=1, no_catchup=True, **src.kwargs())
        for old in existing:
            client.delete_recurring_run(old.recurring_run_id)
    return str(created.recurring_run_id), "replaced" if existing else "created"
