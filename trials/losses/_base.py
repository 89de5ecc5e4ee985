"""The base class of every loss term and the checks it runs on its inputs."""

from __future__ import annotations

from typing import ClassVar

import torch
from torch import nn

from search_spaces import ConfigError, LossConfig

__all__ = ["LossTerm", "binary_target"]


class LossTerm(nn.Module):
    """One term of the multi-term loss: ``forward(outputs, targets) -> scalar tensor``.

    Subclasses set ``requires`` (the model outputs they read), implement :meth:`compute` and are
    registered under their recipe name with :func:`trials.losses.register_loss`, which also sets
    ``name``. :meth:`forward` checks that every required output and the target mask are present,
    then calls :meth:`compute`.

    Conventions shared by all terms:

    * ``outputs`` is the model's dict of tensors (``"mask"``: ``(B, 1, H, W)`` logits, and the
      auxiliary heads), ``targets["mask"]`` is ``(B, 1, H, W)`` with values in ``{0, 1}``; it is
      binarised at 0.5 (:func:`binary_target`) wherever a count, a label or a distance is needed.
    * The value is computed in the dtype of the logits (float32 or float64) on their device;
      whatever is computed with numpy/scipy uses a CPU copy of the *target* only (no gradient
      flows through targets) and the result is moved back.
    """

    name: ClassVar[str] = ""
    requires: ClassVar[tuple[str, ...]] = ("mask",)

    @classmethod
    def from_config(cls, loss_cfg: LossConfig) -> LossTerm:
        """Build the term from the recipe's ``loss`` section (parameterless terms ignore it)."""
        del loss_cfg
        return cls()

    def forward(
        self, outputs: dict[str, torch.Tensor], targets: dict[str, torch.Tensor]
    ) -> torch.Tensor:
        """Check the inputs, then return the term's scalar value (differentiable in the logits).

        Raises:
            ConfigError: a required model output is missing (the model was built without the
                head this term needs).
            ValueError: the target mask is missing or has the wrong shape.
        """
        for key in self.requires:
            if key not in outputs:
                raise ConfigError(
                    f"loss term {self.name!r} needs the model output {key!r}, but the model "
                    f"returned only {sorted(outputs)}; a term with loss.weights.{self.name} > 0 "
                    "needs a model built with every key of CompositeLoss.required_outputs"
                )
        if "mask" not in targets:
            raise ValueError(
                f"loss term {self.name!r} needs targets['mask'], got keys {sorted(targets)}"
            )
        target = targets["mask"]
        if target.ndim != 4 or target.shape[1] != 1:
            raise ValueError(
                f"loss term {self.name!r}: targets['mask'] must have shape (B, 1, H, W), "
                f"got {tuple(target.shape)}"
            )
        return self.compute(outputs, target)

    def compute(self, outputs: dict[str, torch.Tensor], target: torch.Tensor) -> torch.Tensor:
        """The term's value; ``target`` is the checked ``(B, 1, H, W)`` mask."""
        raise NotImplementedError

    def _check_shape(self, key: str, value: torch.Tensor, expected: tuple[int, ...]) -> None:
        if tuple(value.shape) != tuple(expected):
            raise ValueError(
                f"loss term {self.name!r}: outputs[{key!r}] must have shape {tuple(expected)} "
                f"(from targets['mask'] of the batch), got {tuple(value.shape)}"
            )


def binary_target(target: torch.Tensor) -> torch.Tensor:
    """The target mask as a boolean tensor (``> 0.5``), detached from any graph."""
    return target.detach() > 0.5
