"""The lesion segmenter: smp FPN with a timm encoder, attention on the decoder, auxiliary heads."""

from __future__ import annotations

import os
from collections.abc import Iterable

import segmentation_models_pytorch as smp
import timm
from torch import Tensor, nn

from search_spaces import ConfigError, ModelConfig
from trials.model._attention import create_attention
from trials.model._heads import AffinityHead, QueryHead, RegionHead

__all__ = ["HEAD_OUTPUTS", "LesionSegmenter", "build_model"]

# Which model outputs each auxiliary head produces; the losses declare the outputs they need,
# so a head whose loss has weight 0 is not built.
HEAD_OUTPUTS: dict[str, tuple[str, ...]] = {
    "region": ("region",),
    "affinity": ("affinity",),
    "query": ("query_masks", "query_logits"),
}


class LesionSegmenter(nn.Module):
    """FPN (Lin et al. 2017, via segmentation_models_pytorch) with optional attention and heads.

    ``forward(x)`` returns a dict: ``"mask"`` (B x 1 x H x W logits) and the outputs of the
    auxiliary heads that were built.
    """

    def __init__(self, cfg: ModelConfig, heads: Iterable[str] = ()) -> None:
        super().__init__()
        self.cfg = cfg
        encoder_kwargs: dict = {}
        if cfg.weights is not None:
            # timm loads a local file through its pretrained-config overlay: no download.
            encoder_kwargs["pretrained_cfg_overlay"] = {"file": os.fspath(cfg.weights)}
        self.fpn = smp.FPN(
            encoder_name=f"tu-{cfg.encoder}",
            encoder_weights=True if cfg.weights is not None else None,
            decoder_pyramid_channels=cfg.pyramid_channels,
            decoder_segmentation_channels=cfg.segmentation_channels,
            classes=cfg.classes,
            **encoder_kwargs,
        )
        channels = self.fpn.decoder.out_channels
        blocks = cfg.attention.blocks if cfg.attention.type != "none" else 0
        self.attention = nn.Sequential(
            *(create_attention(cfg.attention.type, channels) for _ in range(blocks))
        )
        factories = {
            "region": lambda: RegionHead(channels),
            "affinity": lambda: AffinityHead(channels),
            "query": lambda: QueryHead(channels, cfg.num_queries),
        }
        self.heads = nn.ModuleDict({name: factories[name]() for name in sorted(set(heads))})

    @property
    def encoder(self) -> nn.Module:
        """The timm encoder (frozen during the first ``optim.freeze_encoder_epochs``)."""
        return self.fpn.encoder

    def predict_mask(self, x: Tensor) -> Tensor:
        """Mask logits only (inference: the auxiliary heads are not computed)."""
        return self.fpn.segmentation_head(self.attention(self.fpn.decoder(self.fpn.encoder(x))))

    def forward(self, x: Tensor) -> dict[str, Tensor]:
        features = self.fpn.encoder(x)
        decoded = self.attention(self.fpn.decoder(features))
        out = {"mask": self.fpn.segmentation_head(decoded)}
        size = (x.shape[-2], x.shape[-1])
        for head in self.heads.values():
            out.update(head(decoded, size))
        return out


def build_model(cfg: ModelConfig, required_outputs: Iterable[str] = ()) -> LesionSegmenter:
    """Build the model with exactly the heads whose outputs the loss needs.

    Args:
        cfg: the recipe's ``model`` section.
        required_outputs: output keys the loss needs (``CompositeLoss.required_outputs``).

    Raises:
        ConfigError: unknown encoder or attention type, a weights file that is missing or does
            not fit the encoder.
    """
    if not timm.is_model(cfg.encoder):
        close = timm.list_models(f"*{cfg.encoder.split('_')[0]}*")[:15]
        raise ConfigError(
            f"model.encoder = {cfg.encoder!r}: not a timm model name"
            + (f"; similar names: {', '.join(close)}" if close else "")
        )
    if cfg.weights is not None and not os.path.isfile(cfg.weights):
        raise ConfigError(f"model.weights = {cfg.weights!r}: no such file")
    required = set(required_outputs)
    unknown = required - {"mask"} - {o for outs in HEAD_OUTPUTS.values() for o in outs}
    if unknown:
        raise ConfigError(f"the loss needs outputs no head produces: {sorted(unknown)}")
    heads = [name for name, outs in HEAD_OUTPUTS.items() if required & set(outs)]
    try:
        return LesionSegmenter(cfg, heads)
    except (RuntimeError, KeyError, ValueError) as exc:
        if cfg.weights is None:
            raise
        raise ConfigError(
            f"model.weights = {cfg.weights!r}: cannot be loaded into encoder "
            f"{cfg.encoder!r} ({exc})"
        ) from None
