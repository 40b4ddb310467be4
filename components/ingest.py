"""The ingest step (``personseg_kfp.components.ingest``)."""

from personseg_kfp.components.ingest import ingest  # noqa: F401
