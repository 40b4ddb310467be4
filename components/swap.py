"""The swap step (``personseg_kfp.components.swap``)."""

from personseg_kfp.components.swap import swap  # noqa: F401
