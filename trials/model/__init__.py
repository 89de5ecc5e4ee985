"""The segmentation model: smp FPN + timm encoder + attention registry + auxiliary heads."""

from __future__ import annotations

from trials.model._attention import ESCA, create_attention, list_attention, register_attention
from trials.model._segmenter import HEAD_OUTPUTS, LesionSegmenter, build_model

__all__ = [
    "ESCA",
    "HEAD_OUTPUTS",
    "LesionSegmenter",
    "build_model",
    "create_attention",
    "list_attention",
    "register_attention",
]
