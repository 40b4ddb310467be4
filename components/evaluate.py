"""The evaluate step (``personseg_kfp.components.evaluate``)."""

from personseg_kfp.components.evaluate import evaluate  # noqa: F401
