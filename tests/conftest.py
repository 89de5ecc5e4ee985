"""Shared fixtures: the real soybean-rust data and small recipes for fast real training."""

from __future__ import annotations

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SOYBEAN = REPO.parent / "shared" / "data" / "soybean_rust"


@pytest.fixture(scope="session")
def soybean_root() -> Path:
    """The 63 real soybean-rust images; skipped with the reason only when absent."""
    if not (SOYBEAN / "images").is_dir():
        pytest.skip(f"real data not found at {SOYBEAN} (CI has it there)")
    return SOYBEAN


@pytest.fixture(scope="session")
def tiny_overrides() -> dict:
    """cpu_demo shrunk to seconds: a few small synthetic images, two epochs."""
    return {
        "data.synthetic.n_images": 12,
        "data.synthetic.size": 96,
        "data.max_tiles_per_image": 2,
        "data.tile_size": 64,
        "data.stride": 48,
        "data.tile_jitter": 4,
        "data.image_size": 64,
        "data.batch_size": 8,
        "optim.epochs": 2,
        "optim.freeze_encoder_epochs": 1,
    }
