"""The quantize step (``personseg_kfp.components.quantize``)."""

from personseg_kfp.components.quantize import quantize  # noqa: F401
