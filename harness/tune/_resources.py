"""What a trial asks Ray for: the cluster's GPUs decide the GPU share, not this driver's."""

from __future__ import annotations

__all__ = ["cluster_gpus", "gpu_share"]


def cluster_gpus(address: str | None) -> float:
    """Connect to Ray (``--address``, ``RAY_ADDRESS`` or a local instance) and count the GPUs of
    the whole cluster: where the trials run, not where this driver runs."""
    from harness.tune._cluster import cluster_gpus as count
    from harness.tune._cluster import connect

    connect(address, num_cpus=None)
    return count()


def gpu_share(gpus_per_trial: float | None, concurrency: int, gpus_in_cluster: float) -> float:
    """The GPU fraction each trial asks for: ``gpus_per_trial`` when given, else an equal share
    of one GPU among ``concurrency`` trials when the cluster has a GPU, else 0 (CPU trials)."""
    if gpus_per_trial is not None:
        return float(gpus_per_trial)
    return 1.0 / concurrency if gpus_in_cluster > 0 else 0.0
