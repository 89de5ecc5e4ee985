"""The weighted sum of the loss terms whose weight in the recipe is positive."""

from __future__ import annotations

import torch
from torch import nn

from search_spaces import LossConfig
from trials.losses._registry import create_loss

__all__ = ["CompositeLoss"]

_HALF = (torch.float16, torch.bfloat16)


class CompositeLoss(nn.Module):
    r"""The recipe's multi-term loss :math:`L = \sum_i w_i L_i` over the terms with :math:`w_i > 0`.

    Only the terms with a positive weight in ``loss_cfg.weights`` are built (as submodules of
    ``terms``, in the field order of ``LossWeights``) and computed; a term with weight 0 costs
    nothing and its model head need not exist (see :attr:`required_outputs`).

    Half-precision outputs (AMP) are upcast to float32 and the terms run with autocast disabled,
    so that batch-wide sums (Dice, Tversky) and the distance weights are not computed in float16.

    Args:
        loss_cfg: the recipe's ``loss`` section; ``None`` means the defaults.
    """

    def __init__(self, loss_cfg: LossConfig | None = None) -> None:
        super().__init__()
        cfg = loss_cfg if loss_cfg is not None else LossConfig()
        self.weights: dict[str, float] = {
            name: float(w) for name, w in cfg.weights.model_dump().items() if w > 0
        }
        self.terms = nn.ModuleDict({name: create_loss(name, cfg) for name in self.weights})

    @property
    def required_outputs(self) -> set[str]:
        """The model outputs the built terms read (the union of their ``requires``)."""
        return {key for term in self.terms.values() for key in term.requires}

    def forward(
        self, outputs: dict[str, torch.Tensor], targets: dict[str, torch.Tensor]
    ) -> tuple[torch.Tensor, dict[str, float]]:
        r"""Weighted total and the unweighted value of each built term.

        Args:
            outputs: the model's outputs (every key of :attr:`required_outputs`).
            targets: ``{"mask": (B, 1, H, W)}`` in ``{0, 1}``.

        Returns:
            ``(total, values)``: the differentiable scalar :math:`\sum_i w_i L_i`, and
            ``{name: L_i}`` as Python floats for logging (one host sync for all of them).

        Raises:
            ConfigError: a term's required output is missing; the message names term and key.
        """
        outputs = {k: v.float() if v.dtype in _HALF else v for k, v in outputs.items()}
        device_type = next(iter(outputs.values())).device.type if outputs else "cpu"
        with torch.autocast(device_type=device_type, enabled=False):
            values = {name: term(outputs, targets) for name, term in self.terms.items()}
        total = sum(self.weights[name] * value for name, value in values.items())
        logged = torch.stack([v.detach().double() for v in values.values()]).tolist()
        return total, dict(zip(values, logged, strict=True))

    def extra_repr(self) -> str:
        return ", ".join(f"{name}={w:g}" for name, w in self.weights.items())
