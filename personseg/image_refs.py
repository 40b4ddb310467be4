"""Container image references, derived from the package version in one place.

The serving Deployment, the KServe variant, the kustomize manifests (``images:`` transformer) and the
pipeline components all name these images; a test checks the manifests agree with this module, so a
version bump that forgets one of them fails CI instead of deploying a stale image.
"""

from __future__ import annotations

import os

from personseg import __version__

DEFAULT_REGISTRY = "ghcr.io/personseg"
REGISTRY_ENV = "PERSONSEG_IMAGE_REGISTRY"
SERVING = "serving"
PIPELINE = "pipeline"


def image_registry(registry: str | None = None) -> str:
    """The registry/namespace prefix: the argument, else ``PERSONSEG_IMAGE_REGISTRY``, else the default."""
    chosen = registry or os.environ.get(REGISTRY_ENV) or DEFAULT_REGISTRY
    return chosen.rstrip("/")


def image_ref(component: str, registry: str | None = None, tag: str | None = None) -> str:
    """``<registry>/<component>:<tag>``; the tag defaults to the package version."""
    return f"{image_registry(registry)}/{component}:{tag or __version__}"


def serving_image(registry: str | None = None, tag: str | None = None) -> str:
    """The model server image (``images/serving/Dockerfile``)."""
    return image_ref(SERVING, registry, tag)


def pipeline_image(registry: str | None = None, tag: str | None = None) -> str:
    """The image every pipeline step runs in."""
    return image_ref(PIPELINE, registry, tag)
