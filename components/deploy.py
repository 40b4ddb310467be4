"""The deploy step (``personseg_kfp.components.deploy``)."""

from personseg_kfp.components.deploy import deploy  # noqa: F401
