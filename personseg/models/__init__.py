"""Segmentation models, built by name: ``build_model("unet", decoder="bilinear", width=32)``."""

from personseg.models.architectures import build_model, list_models, register_model
from personseg.models.pruned import pruned_unet
from personseg.models.swapped import swapped_unet
from personseg.models.unet import UNet

__all__ = ["build_model", "list_models", "register_model", "UNet"]


@register_model("unet")
def unet(width: int = 32, decoder: str = "bilinear") -> UNet:
    """Milesial-style U-Net with a ``bilinear`` or ``transposed`` decoder."""
    return UNet(width=width, decoder=decoder)


@register_model("unet-swapped")
def unet_swapped(width: int = 32, design: str = "lean", squeeze: int = 2) -> UNet:
    """The bilinear U-Net after ``personseg swap`` (see ``personseg.models.swapped``)."""
    return swapped_unet(width=width, design=design, squeeze=squeeze)


@register_model("unet-pruned")
def unet_pruned(width: int = 32, ratio: float = 0.5) -> UNet:
    """The bilinear U-Net after ``personseg swap --design pruneNN`` (see ``personseg.models.pruned``)."""
    return pruned_unet(width=width, ratio=ratio)
