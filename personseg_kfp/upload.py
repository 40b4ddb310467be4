"""Register the compiled pipeline in KFP (Pipelines in the UI) as a version per distinct spec.

Idempotent by spec: each version personseg uploads carries its spec hash in its description; an
upload whose hash is already there reports that version instead of adding one. A changed spec is a
new version, named ``<personseg version>-<spec sha12>`` unless ``--version`` names it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from personseg import __version__
from personseg.errors import UserError
from personseg_kfp.connection import Connection
from personseg_kfp.kfp_lists import by_name, paged
from personseg_kfp.spec_id import Package, has_marker, load_package

LATEST = "latest"


@dataclass(frozen=True)
class Version:
    """A pipeline version in KFP, and what ``upload`` did about it."""

    pipeline: str
    pipeline_id: str
    version_id: str
    name: str
    action: str = "found"  # "created" (pipeline and version), "uploaded" (new version), "unchanged", "found"


def find_pipeline(client: Any, name: str, namespace: str | None) -> str | None:
    """The id of the pipeline called ``name``, None when there is none."""
    found = [p for p in paged(client.list_pipelines, "pipelines", filter=by_name(name), namespace=namespace)
             if p.display_name == name]
    if len(found) > 1:
        raise UserError(f"pipeline {name!r}: {len(found)} pipelines have that name; use --namespace to pick one")
    return str(found[0].pipeline_id) if found else None


def _versions(client: Any, pipeline_id: str) -> list[Any]:
    return paged(client.list_pipeline_versions, "pipeline_versions", pipeline_id=pipeline_id)


def upload(conn: Connection, package: str | Path, name: str | None = None, version: str | None = None,
           client: Any = None) -> Version:
    """Register ``package`` as a version of pipeline ``name`` (default: its pipelineInfo.name), once per spec."""
    pkg = load_package(package)
    name = name or pkg.name
    client = client or conn.client()
    with conn.errors():
        pipeline_id = find_pipeline(client, name, conn.namespace)
        created = pipeline_id is None
        if created:
            from kfp_server_api import V2beta1Pipeline

            pipeline_id = str(client.pipelines.pipeline_service_create_pipeline(pipeline=V2beta1Pipeline(
                display_name=name, description=pkg.description, namespace=conn.namespace)).pipeline_id)
            existing = []
        else:
            existing = _versions(client, pipeline_id)
            for old in existing:
                if has_marker(old.description, pkg):
                    return Version(name, pipeline_id, str(old.pipeline_version_id), old.display_name, "unchanged")
        return _upload_version(client, pkg, pipeline_id, name, version or pkg.default_version(), existing, created)


def _upload_version(client: Any, pkg: Package, pipeline_id: str, name: str, version: str, existing: list[Any],
                    created: bool) -> Version:
    if any(v.display_name == version for v in existing):
        raise UserError(f"--version {version}: pipeline {name!r} already has a version of that name with another "
                        "spec; choose another --version")
    new = client.upload_pipeline_version(str(pkg.path), version, pipeline_id=pipeline_id,
                                         description=f"{pkg.marker} (uploaded by personseg {__version__})")
    return Version(name, pipeline_id, str(new.pipeline_version_id), version, "created" if created else "uploaded")


def resolve_version(conn: Connection, client: Any, pipeline: str, ref: str) -> Version:
    """The version of pipeline ``pipeline`` whose name or id is ``ref`` (for --pipeline-version).

    ``latest`` is the newest version (by the server's ``created_at``; listing order where it has none),
    resolved now: a schedule made with it stays pinned to that version until scheduled again.
    """
    with conn.errors():
        pipeline_id = find_pipeline(client, pipeline, conn.namespace)
        if pipeline_id is None:
            raise UserError(f"--pipeline-name {pipeline}: no such pipeline at {conn.host} "
                            "(register it with `personseg pipeline upload`)")
        versions = _versions(client, pipeline_id)
    if ref == LATEST and versions:
        newest = max(enumerate(versions), key=lambda iv: (str(getattr(iv[1], "created_at", None) or ""), iv[0]))[1]
        return Version(pipeline, pipeline_id, str(newest.pipeline_version_id), newest.display_name)
    for v in versions:
        if ref in (v.pipeline_version_id, v.display_name):
            return Version(pipeline, pipeline_id, str(v.pipeline_version_id), v.display_name)
    known = ", ".join(v.display_name for v in versions[:5]) + (", ..." if len(versions) > 5 else "")
    raise UserError(f"--pipeline-version {ref}: pipeline {pipeline!r} has no version of that name or id "
                    f"(it has: {known or 'none'})")
