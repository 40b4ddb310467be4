"""Submit the compiled pipeline to a Kubeflow Pipelines endpoint, or schedule it for retraining.

Authentication uses the usual ``kfp.Client`` options: a bearer token read from an environment
variable (never from the command line, which ends up in shell history and process lists), a CA
bundle, a namespace for multi-user deployments. Schedules are idempotent by name: scheduling the
same name again with the same cron and parameters changes nothing; with different ones it replaces
the old schedule, so there is never more than one schedule of a name in the experiment.
"""

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from personseg.errors import UserError

DEFAULT_EXPERIMENT = "person-segmentation"
DEFAULT_SCHEDULE = "person-segmentation-retrain"
TOKEN_ENV = "KFP_TOKEN"


@dataclass(frozen=True)
class Connection:
    """How to reach and authenticate to the KFP API."""

    host: str
    namespace: str | None = None
    token_env: str = TOKEN_ENV
    ssl_ca_cert: str | None = None

    def client(self) -> Any:
        """A ``kfp.Client`` for this endpoint."""
        import kfp

        if not self.host.startswith(("http://", "https://")):
            raise UserError(f"--host {self.host!r}: expected http(s)://HOST[:PORT][/PATH]")
        token = os.environ.get(self.token_env) or None
        kwargs: dict[str, Any] = {"host": self.host, "existing_token": token, "ssl_ca_cert": self.ssl_ca_cert}
        if self.namespace:
            kwargs["namespace"] = self.namespace
        return kfp.Client(**kwargs)


def cron6(expr: str) -> str:
    """KFP's six-field cron (seconds first); a five-field crontab line gets ``0`` seconds."""
    fields = expr.split()
    if len(fields) == 5:
        return "0 " + " ".join(fields)
    if len(fields) == 6:
        return " ".join(fields)
    raise UserError(f"--cron {expr!r}: expected 5 fields (min hour day month weekday) or 6 (seconds first)")


def _package(path: str | Path) -> str:
    path = Path(path)
    if not path.is_file():
        raise UserError(f"--package {path}: no such file (run `personseg pipeline compile` first)")
    return str(path)


def submit(conn: Connection, package: str | Path, params: dict[str, Any], experiment: str = DEFAULT_EXPERIMENT,
           run_name: str | None = None, client: Any = None) -> str:
    """Start one run of the compiled pipeline; returns its run id."""
    client = client or conn.client()
    result = client.create_run_from_pipeline_package(
        _package(package), arguments=params, run_name=run_name, experiment_name=experiment,
        namespace=conn.namespace)
    return str(result.run_id)


def _existing(client: Any, experiment_id: str, name: str) -> list[Any]:
    flt = json.dumps({"predicates": [{"operation": "EQUALS", "key": "display_name", "stringValue": name}]})
    found, token = [], ""
    while True:
        page = client.list_recurring_runs(experiment_id=experiment_id, filter=flt, page_token=token, page_size=100)
        found += [r for r in (page.recurring_runs or []) if r.display_name == name]
        token = page.next_page_token or ""
        if not token:
            return found


def _same(run: Any, cron: str, params: dict[str, Any]) -> bool:
    trigger = run.trigger.cron_schedule if run.trigger else None
    current = (run.runtime_config.parameters if run.runtime_config else None) or {}
    return bool(trigger) and trigger.cron == cron and current == params


def schedule(conn: Connection, package: str | Path, cron: str, params: dict[str, Any],
             name: str = DEFAULT_SCHEDULE, experiment: str = DEFAULT_EXPERIMENT, client: Any = None) -> tuple[str, str]:
    """Create or update the recurring run ``name``; returns (recurring run id, what was done)."""
    cron = cron6(cron)
    package = _package(package)
    client = client or conn.client()
    exp = client.create_experiment(name=experiment, namespace=conn.namespace)
    existing = _existing(client, exp.experiment_id, name)
    if len(existing) == 1 and _same(existing[0], cron, params):
        return str(existing[0].recurring_run_id), "unchanged"
    for old in existing:
        client.delete_recurring_run(old.recurring_run_id)
    created = client.create_recurring_run(
        experiment_id=exp.experiment_id, job_name=name, cron_expression=cron, params=params,
        pipeline_package_path=package, max_concurrency=1, no_catchup=True)
    return str(created.recurring_run_id), "replaced" if existing else "created"
