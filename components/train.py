"""The train step (``personseg_kfp.components.train``)."""

from personseg_kfp.components.train import train  # noqa: F401
