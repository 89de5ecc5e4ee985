"""Auxiliary heads: region (image-level presence), affinity (neighbour agreement), query.

Each head reads the decoder features (``B x C x h x w``, a quarter of the input resolution) and
adds its outputs to the model's output dictionary under the keys the losses expect.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

__all__ = ["AffinityHead", "QueryHead", "RegionHead"]


class RegionHead(nn.Module):
    """Image-level lesion presence: global average and max pooling, then a linear logit.

    Max pooling keeps a single small lesion visible; average pooling alone would dilute it.
    """

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.fc = nn.Linear(2 * channels, 1)

    def forward(self, feats: Tensor, out_size: tuple[int, int]) -> dict[str, Tensor]:
        pooled = torch.cat([feats.mean(dim=(2, 3)), feats.amax(dim=(2, 3))], dim=1)
        return {"region": self.fc(pooled)}


class AffinityHead(nn.Module):
    """Pixel affinities: does each pixel share its label with its right / lower neighbour.

    Two logits per pixel predicted at decoder resolution and upsampled to the input size
    (in the spirit of Ahn & Kwak 2018, "Learning Pixel-level Semantic Affinity").
    """

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.conv = nn.Sequential(
            nn.Conv2d(channels, channels, 3, padding=1),
            nn.ReLU(inplace=True),
            nn.Conv2d(channels, 2, 1),
        )

    def forward(self, feats: Tensor, out_size: tuple[int, int]) -> dict[str, Tensor]:
        logits = self.conv(feats)
        return {
            "affinity": F.interpolate(logits, size=out_size, mode="bilinear", align_corners=False)
        }


class QueryHead(nn.Module):
    """N learnable queries attend to the decoder features; each predicts a mask and a score.

    One cross-attention layer and a feed-forward block refine the queries (as in DETR, Carion et
    al. 2020, and MaskFormer, Cheng et al. 2021); a query's mask is the dot product of its mask
    embedding with the per-pixel embeddings, and its objectness is a linear logit. The loss
    matches queries to the ground truth's connected components (Hungarian matching).
    """

    def __init__(self, channels: int, num_queries: int) -> None:
        super().__init__()
        heads = 4 if channels % 4 == 0 else 1
        self.queries = nn.Parameter(torch.randn(num_queries, channels) * channels**-0.5)
        self.attn = nn.MultiheadAttention(channels, heads, batch_first=True)
        self.norm1 = nn.LayerNorm(channels)
        self.ffn = nn.Sequential(
            nn.Linear(channels, 2 * channels),
            nn.ReLU(inplace=True),
            nn.Linear(2 * channels, channels),
        )
        self.norm2 = nn.LayerNorm(channels)
        self.mask_embed = nn.Linear(channels, channels)
        self.pixel_embed = nn.Conv2d(channels, channels, 1)
        self.objectness = nn.Linear(channels, 1)

    def forward(self, feats: Tensor, out_size: tuple[int, int]) -> dict[str, Tensor]:
        b = feats.shape[0]
        memory = feats.flatten(2).transpose(1, 2)  # B x hw x C
        q = self.queries.unsqueeze(0).expand(b, -1, -1)
        q = self.norm1(q + self.attn(q, memory, memory, need_weights=False)[0])
        q = self.norm2(q + self.ffn(q))
        masks = torch.einsum("bnc,bchw->bnhw", self.mask_embed(q), self.pixel_embed(feats))
        return {"query_masks": masks, "query_logits": self.objectness(q).squeeze(-1)}
