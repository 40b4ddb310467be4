"""The check_data step (``personseg_kfp.components.check_data``)."""

from personseg_kfp.components.check_data import check_data  # noqa: F401
