"""Attention blocks on the decoder features, from one registry keyed by the recipe's names.

The registry has timm's shape (``timm/models/_registry.py``): :func:`register_attention`,
:func:`create_attention`, :func:`list_attention`. The building blocks themselves are timm's
(``timm.layers``), not re-implementations.
"""

from __future__ import annotations

from collections.abc import Callable

from timm.layers.cbam import CbamModule, SpatialAttn
from timm.layers.eca import EcaModule
from timm.layers.squeeze_excite import SEModule
from torch import Tensor, nn

from search_spaces import ConfigError

__all__ = ["ESCA", "create_attention", "list_attention", "register_attention"]

_ATTENTION: dict[str, Callable[[int], nn.Module]] = {}


def register_attention(
    name: str,
) -> Callable[[Callable[[int], nn.Module]], Callable[[int], nn.Module]]:
    """Register a factory ``f(channels) -> nn.Module`` under ``name``."""

    def wrap(factory: Callable[[int], nn.Module]) -> Callable[[int], nn.Module]:
        if name in _ATTENTION:
            raise ValueError(f"attention {name!r} is already registered")
        _ATTENTION[name] = factory
        return factory

    return wrap


def list_attention() -> list[str]:
    """Names accepted by ``model.attention.type``."""
    return sorted(_ATTENTION)


def create_attention(name: str, channels: int) -> nn.Module:
    """One attention block for ``channels`` feature channels.

    Raises:
        ConfigError: ``name`` is not registered (the message lists the valid names).
    """
    if name not in _ATTENTION:
        raise ConfigError(
            f"model.attention.type = {name!r}: unknown attention; "
            f"valid: {', '.join(list_attention())}"
        )
    return _ATTENTION[name](channels)


class ESCA(nn.Module):
    """Efficient spatial-channel attention: spatial attention, then channel attention, plus x.

    ``y = x + ECA(SA(x))`` where SA is CBAM's spatial attention (a 7x7 convolution over the
    channel-wise mean and max, sigmoid-gated; Woo et al. 2018, "CBAM: Convolutional Block
    Attention Module") and ECA is efficient channel attention (a 1-D convolution across the
    globally pooled channels, sigmoid-gated; Wang et al. 2020, "ECA-Net"). The residual keeps the
    block close to the identity at initialisation, so stacking blocks does not starve the decoder
    of signal early in training.
    """

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.spatial = SpatialAttn(kernel_size=7)
        self.channel = EcaModule(channels=channels)

    def forward(self, x: Tensor) -> Tensor:
        return x + self.channel(self.spatial(x))


@register_attention("esca")
def _esca(channels: int) -> nn.Module:
    return ESCA(channels)


@register_attention("cbam")
def _cbam(channels: int) -> nn.Module:
    # Channel then spatial attention (Woo et al. 2018); reduction 1/8 keeps >= 4 hidden units
    # on the small decoders of the CPU recipe.
    return CbamModule(channels, rd_ratio=1 / 8)


@register_attention("se")
def _se(channels: int) -> nn.Module:
    # Squeeze-and-excitation (Hu et al. 2018, "Squeeze-and-Excitation Networks").
    return SEModule(channels, rd_ratio=1 / 8, rd_divisor=4)


@register_attention("none")
def _none(channels: int) -> nn.Module:
    return nn.Identity()
