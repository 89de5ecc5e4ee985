"""The recipe: one frozen pydantic model of everything a trial needs.

Every field has a default (the reference "Stage-1++" configuration of docs/architecture.md) and
a one-line description. A parameter is named everywhere by its dotted path in this model
(``optim.lr``, ``loss.weights.boundary``, ``model.attention.blocks``).
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ByteSize, ConfigDict, Field, PositiveFloat, model_validator

__all__ = [
    "AttentionConfig",
    "BoundaryParams",
    "DataConfig",
    "EarlyStoppingConfig",
    "FocalTverskyParams",
    "LossConfig",
    "LossWeights",
    "MemoryConfig",
    "ModelConfig",
    "OneCycleConfig",
    "OptimConfig",
    "Recipe",
    "SoftDiceParams",
    "SplitConfig",
    "SyntheticConfig",
]


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", validate_default=True)


# --------------------------------------------------------------------------------------- data


class SyntheticConfig(_Frozen):
    """The built-in leaf-lesion generator, used when ``data.root`` is not set."""

    n_images: int = Field(96, ge=6, description="Number of synthetic images generated.")
    size: int = Field(768, ge=32, le=4096, description="Side of each square synthetic image (px).")
    seed: int = Field(0, description="Seed of the generator (the data, not the training).")


class SplitConfig(_Frozen):
    """The train/val/test split made when the data folder has no split folders."""

    val_fraction: float = Field(0.15, gt=0, lt=1, description="Share of images for validation.")
    test_fraction: float = Field(0.15, ge=0, lt=1, description="Share of images held out for test.")
    seed: int = Field(0, description="Seed of the stratified split (by lesion fraction).")

    @model_validator(mode="after")
    def _fractions_leave_training_data(self) -> SplitConfig:
        if self.val_fraction + self.test_fraction >= 0.9:
            raise ValueError(
                "val_fraction + test_fraction must be below 0.9 so that training data remains, "
                f"got {self.val_fraction} + {self.test_fraction}"
            )
        return self


class DataConfig(_Frozen):
    """Where the images come from and how training tiles are drawn."""

    root: str | None = Field(
        None, description="Folder of images and masks; empty means the synthetic generator."
    )
    synthetic: SyntheticConfig = Field(
        default_factory=SyntheticConfig, description="Synthetic generator settings."
    )
    split: SplitConfig = Field(default_factory=SplitConfig, description="Train/val/test split.")
    max_image_side: int | None = Field(
        None, ge=32, description="Downscale images on load so the long side is at most this."
    )
    tile_size: int = Field(512, ge=16, description="Side of a training tile in image pixels.")
    stride: int = Field(384, ge=8, description="Step between tile positions (also for inference).")
    tile_jitter: int = Field(32, ge=0, description="Random shift (px) added to a tile position.")
    max_tiles_per_image: int = Field(1, ge=1, description="Tiles drawn from each image per epoch.")
    pos_tile_prob: float = Field(
        0.8, ge=0, le=1, description="Probability that a drawn tile contains lesion."
    )
    image_size: int = Field(
        256, ge=16, description="Side the tiles are resized to (a multiple of 32 for the model)."
    )
    batch_size: int = Field(4, ge=1, description="Tiles per optimiser micro-batch.")
    eval_batch_size: int = Field(8, ge=1, description="Windows per batch in sliding-window eval.")
    num_workers: int = Field(0, ge=0, description="DataLoader worker processes.")
    augment: bool = Field(True, description="Flips, rotations and colour jitter on tiles.")
    mean: tuple[float, float, float] = Field(
        (0.485, 0.456, 0.406), description="Per-channel normalisation mean (ImageNet)."
    )
    std: tuple[PositiveFloat, PositiveFloat, PositiveFloat] = Field(
        (0.229, 0.224, 0.225), description="Per-channel normalisation std (ImageNet)."
    )
    on_bad_sample: Literal["error", "skip"] = Field(
        "error", description="An unreadable or mismatched pair: stop with an error, or skip it."
    )

    @model_validator(mode="after")
    def _stride_fits_tile(self) -> DataConfig:
        if self.stride > self.tile_size:
            raise ValueError(
                f"stride ({self.stride}) must not exceed tile_size ({self.tile_size}): "
                "windows would leave pixels that no tile covers"
            )
        return self


# -------------------------------------------------------------------------------------- model


class AttentionConfig(_Frozen):
    """Attention blocks applied to the decoder features."""

    type: str = Field("esca", description="Attention block: esca, cbam, se or none.")
    blocks: int = Field(2, ge=0, le=3, description="Number of attention blocks (0-3).")


class ModelConfig(_Frozen):
    """FPN segmentation model with a timm encoder, attention and auxiliary heads."""

    encoder: str = Field("efficientnet_b2", description="timm encoder name (used as smp 'tu-').")
    weights: str | None = Field(
        None, description="Local encoder weights file (.pth/.safetensors); nothing is downloaded."
    )
    pyramid_channels: int = Field(256, ge=8, description="FPN decoder pyramid channels.")
    segmentation_channels: int = Field(128, ge=8, description="FPN decoder output channels.")
    attention: AttentionConfig = Field(
        default_factory=AttentionConfig, description="Attention on decoder features."
    )
    num_queries: int = Field(32, ge=1, description="Learnable queries of the query head.")
    classes: Literal[1] = Field(1, description="Output channels (binary lesion segmentation).")


# --------------------------------------------------------------------------------------- loss


class LossWeights(_Frozen):
    """Weight of each loss term; a term with weight 0 is neither built nor computed."""

    focal_tversky: float = Field(0.4, ge=0, description="Focal Tversky loss weight.")
    boundary: float = Field(0.2, ge=0, description="Distance-transform boundary loss weight.")
    weighted_ce: float = Field(0.15, ge=0, description="Inverse-frequency weighted CE weight.")
    soft_dice: float = Field(0.15, ge=0, description="Soft Dice loss weight.")
    region: float = Field(0.05, ge=0, description="Region (image-level presence) head weight.")
    affinity: float = Field(0.05, ge=0, description="Pixel-affinity head weight.")
    query: float = Field(0.1, ge=0, description="Query (instance) head weight.")

    @model_validator(mode="after")
    def _some_weight(self) -> LossWeights:
        if sum(self.model_dump().values()) <= 0:
            raise ValueError("at least one loss weight must be positive, all are 0")
        return self


class FocalTverskyParams(_Frozen):
    """Parameters of the focal Tversky loss."""

    alpha: float = Field(0.3, ge=0, le=1, description="Weight of false positives.")
    beta: float = Field(0.7, ge=0, le=1, description="Weight of false negatives.")
    gamma: float = Field(1.2, gt=0, le=5, description="Focal exponent on (1 - Tversky index).")


class BoundaryParams(_Frozen):
    """Parameters of the boundary loss."""

    max_dist: float = Field(3.0, gt=0, description="Distance (px) at which the weight reaches 1.")


class SoftDiceParams(_Frozen):
    """Parameters of the soft Dice loss."""

    smooth: float = Field(1e-6, ge=0, description="Additive smoothing of the Dice ratio.")


class LossConfig(_Frozen):
    """The multi-term loss."""

    weights: LossWeights = Field(default_factory=LossWeights, description="Term weights.")
    focal_tversky: FocalTverskyParams = Field(
        default_factory=FocalTverskyParams, description="Focal Tversky parameters."
    )
    boundary: BoundaryParams = Field(
        default_factory=BoundaryParams, description="Boundary loss parameters."
    )
    soft_dice: SoftDiceParams = Field(
        default_factory=SoftDiceParams, description="Soft Dice parameters."
    )


# -------------------------------------------------------------------------------------- optim


class OneCycleConfig(_Frozen):
    """OneCycle learning-rate schedule (Smith & Topin 2019)."""

    pct_start: float = Field(0.1, gt=0, lt=1, description="Share of steps spent warming up.")
    div_factor: float = Field(10.0, gt=0, description="Initial lr = max lr / div_factor.")
    final_div_factor: float = Field(
        50.0, gt=0, description="Final lr = initial lr / final_div_factor."
    )


class EarlyStoppingConfig(_Frozen):
    """Stop a run whose monitored metric stops improving."""

    patience: int | None = Field(
        None, ge=1, description="Epochs without improvement before stopping; empty = never."
    )
    min_rel_improvement: float = Field(
        0.0, ge=0, description="Relative gain over the best that counts as an improvement."
    )


class OptimConfig(_Frozen):
    """Optimiser, schedule and training-loop settings."""

    epochs: int = Field(40, ge=1, description="Training epochs.")
    lr: float = Field(1e-4, gt=0, le=1, description="Peak learning rate of AdamW / OneCycle.")
    weight_decay: float = Field(1e-4, ge=0, description="AdamW weight decay.")
    grad_clip: float | None = Field(1.0, gt=0, description="Max gradient norm; empty = no clip.")
    accumulation: int = Field(16, ge=1, description="Micro-batches per optimiser step.")
    onecycle: OneCycleConfig = Field(
        default_factory=OneCycleConfig, description="OneCycle schedule."
    )
    freeze_encoder_epochs: int = Field(2, ge=0, description="Epochs with the encoder frozen.")
    amp: bool = Field(True, description="Mixed precision (CUDA only; ignored on CPU).")
    channels_last: bool = Field(True, description="channels_last memory format (CUDA only).")
    monitor: str = Field("iou_lesion", description="Validation metric for best/early stop.")
    monitor_mode: Literal["max", "min"] = Field("max", description="Whether higher is better.")
    early_stopping: EarlyStoppingConfig = Field(
        default_factory=EarlyStoppingConfig, description="Early stopping."
    )


# ------------------------------------------------------------------------------------- memory


class MemoryConfig(_Frozen):
    """The memory guard: GPU memory through NVML where a GPU is used, process RSS otherwise."""

    cap: ByteSize | None = Field(
        None, description="Memory cap per trial (e.g. 12GiB); empty = no cap."
    )
    warn_fraction: float = Field(0.8, gt=0, le=1, description="Warn at this share of the cap.")
    critical_fraction: float = Field(
        0.9, gt=0, le=1, description="Free caches at this share of the cap."
    )
    poll_interval_s: float = Field(0.2, gt=0, description="Seconds between background checks.")
    oom_retry: bool = Field(
        False, description="On CUDA OOM retry once at half batch and double accumulation."
    )

    @model_validator(mode="after")
    def _ordered(self) -> MemoryConfig:
        if self.warn_fraction > self.critical_fraction:
            raise ValueError(
                f"warn_fraction ({self.warn_fraction}) must not exceed "
                f"critical_fraction ({self.critical_fraction})"
            )
        return self


# ------------------------------------------------------------------------------------- recipe


class Recipe(_Frozen):
    """The whole training recipe of one trial."""

    name: str = Field("stage1pp", description="Name of the recipe (for humans and run names).")
    seed: int = Field(27, description="Seed of python, numpy, torch and the data order.")
    data: DataConfig = Field(default_factory=DataConfig, description="Data and tiling.")
    model: ModelConfig = Field(default_factory=ModelConfig, description="Model.")
    loss: LossConfig = Field(default_factory=LossConfig, description="Loss.")
    optim: OptimConfig = Field(default_factory=OptimConfig, description="Optimisation.")
    memory: MemoryConfig = Field(default_factory=MemoryConfig, description="Memory guard.")
