"""One training step, the same for ``run_trial`` and for ``harness bench``.

A step is one micro-batch: the inputs moved to the device (in channels_last where that acts),
the forward pass under autocast where AMP acts, the composite loss in float32, a check that it is
finite, the backward pass of the loss divided by the size of its accumulation group (scaled when
float16 needs loss scaling) and, at the end of a group, gradient clipping and the optimiser,
scaler and learning-rate-schedule steps. Training and the benchmark run this same code, so the
benchmark times what training runs.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass

import torch

from search_spaces import DivergedError, Recipe

__all__ = ["Precision", "StepResult", "TrainStep"]


@dataclass(frozen=True)
class Precision:
    """Where mixed precision and channels_last act: decided once, from the recipe and device.

    Both take effect on CUDA only; on CPU the recipe's ``optim.amp`` and ``optim.channels_last``
    are ignored. AMP computes in bfloat16 where the GPU supports it, float16 otherwise; float16
    needs loss scaling (Micikevicius et al., "Mixed Precision Training", ICLR 2018) since its
    exponent range is narrower than float32's, bfloat16 does not.

    Attributes:
        autocast_dtype: ``torch.bfloat16`` or ``torch.float16`` under AMP, else ``None``.
        channels_last: whether inputs and weights use the channels_last memory format.
    """

    autocast_dtype: torch.dtype | None
    channels_last: bool

    @classmethod
    def of(cls, recipe: Recipe, device: torch.device) -> Precision:
        """The precision ``recipe`` trains with on ``device``."""
        cuda = device.type == "cuda"
        dtype = None
        if cuda and recipe.optim.amp:
            dtype = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
        return cls(dtype, cuda and recipe.optim.channels_last)

    @property
    def amp(self) -> bool:
        """Whether the forward pass runs under autocast."""
        return self.autocast_dtype is not None

    @property
    def grad_scaling(self) -> bool:
        """Whether the loss is scaled before backward (float16 autocast only)."""
        return self.autocast_dtype == torch.float16

    @property
    def dtype_name(self) -> str:
        """``bfloat16``, ``float16`` or ``float32`` (no autocast)."""
        dtype = self.autocast_dtype or torch.float32
        return str(dtype).removeprefix("torch.")

    def autocast(self, device: torch.device) -> contextlib.AbstractContextManager:
        """The autocast context of a forward pass (a no-op without AMP)."""
        if self.autocast_dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(device.type, dtype=self.autocast_dtype)

    def format_model(self, model: torch.nn.Module) -> torch.nn.Module:
        """``model`` in the memory format of this precision."""
        return model.to(memory_format=torch.channels_last) if self.channels_last else model

    def format_input(self, images: torch.Tensor) -> torch.Tensor:
        """``images`` in the memory format of this precision."""
        if self.channels_last:
            return images.contiguous(memory_format=torch.channels_last)
        return images


@dataclass(frozen=True)
class StepResult:
    """What one micro-batch step gives back.

    Attributes:
        loss: the weighted total loss of the micro-batch (before division for accumulation).
        terms: the unweighted value of each loss term.
        n_images: tiles in the micro-batch.
        stepped: whether the optimiser stepped (the micro-batch ended an accumulation group).
    """

    loss: float
    terms: dict[str, float]
    n_images: int
    stepped: bool


class TrainStep:
    """Forward, loss, backward and (at the end of an accumulation group) the optimiser step.

    Gradients of ``accumulation`` consecutive micro-batches are summed before one optimiser
    step; each micro-batch's loss is divided by the size of its group, so a short last group of
    an epoch weighs its micro-batches like a full one and the step is the mean gradient.

    Args:
        model: the network, already on ``device`` in ``precision``'s memory format.
        criterion: the composite loss; called as ``criterion(outputs, {"mask": masks})``.
        optimizer: its optimiser.
        precision: where AMP and channels_last act.
        device: where the batches go.
        grad_clip: maximum gradient norm, or ``None`` for no clipping.
        accumulation: micro-batches per optimiser step.
        scheduler: stepped after every optimiser step, or ``None``.
    """

    def __init__(
        self,
        model: torch.nn.Module,
        criterion: torch.nn.Module,
        optimizer: torch.optim.Optimizer,
        precision: Precision,
        device: torch.device,
        *,
        grad_clip: float | None,
        accumulation: int = 1,
        scheduler: torch.optim.lr_scheduler.LRScheduler | None = None,
    ) -> None:
        self.model, self.criterion, self.optimizer = model, criterion, optimizer
        self.precision, self.device = precision, device
        self.grad_clip, self.accumulation, self.scheduler = grad_clip, accumulation, scheduler
        self.scaler = torch.amp.GradScaler("cuda", enabled=precision.grad_scaling)

    def inputs(self, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        """The images (in the precision's memory format) and masks of ``batch``, on the device."""
        images = batch["image"].to(self.device, non_blocking=True)
        masks = batch["mask"].to(self.device, non_blocking=True)
        return self.precision.format_input(images), masks

    def __call__(
        self,
        images: torch.Tensor,
        masks: torch.Tensor,
        index: int,
        n_batches: int | None = None,
        where: str = "",
    ) -> StepResult:
        """Train on micro-batch ``index`` (0-based) of ``n_batches`` (``None``: endless).

        Raises:
            DivergedError: the loss is NaN or infinite; ``where`` says at which step.
        """
        with self.precision.autocast(self.device):
            outputs = self.model(images)
        outputs = {k: v.float() for k, v in outputs.items()}
        loss, terms = self.criterion(outputs, {"mask": masks})
        if not torch.isfinite(loss):
            raise DivergedError(
                f"loss is {loss.item()} at {where or f'step {index + 1}'} (terms: {terms}); "
                "lower optim.lr or check the data"
            )
        self.scaler.scale(loss / self._group_size(index, n_batches)).backward()
        stepped = (index + 1) % self.accumulation == 0 or index + 1 == n_batches
        if stepped:
            self._optimizer_step()
        return StepResult(loss.item(), terms, images.shape[0], stepped)

    def zero_grad(self) -> None:
        """Drop the gradients (at the start of an epoch, so no group spans two epochs)."""
        self.optimizer.zero_grad(set_to_none=True)

    def _group_size(self, index: int, n_batches: int | None) -> int:
        group_start = (index // self.accumulation) * self.accumulation
        if n_batches is None:
            return self.accumulation
        return min(self.accumulation, n_batches - group_start)

    def _optimizer_step(self) -> None:
        if self.grad_clip is not None:
            self.scaler.unscale_(self.optimizer)
            torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.grad_clip)
        self.scaler.step(self.optimizer)
        self.scaler.update()
        self.optimizer.zero_grad(set_to_none=True)
        if self.scheduler is not None:
            self.scheduler.step()
