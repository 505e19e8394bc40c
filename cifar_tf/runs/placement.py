"""Where a training process runs: which GPU, with what share of its memory, on which backend.

Every process that trains (a run's worker, a search's worker) is started with the environment
`process_env()` gives: pinned to one GPU with `CUDA_VISIBLE_DEVICES`, told to take memory as it
needs it, up to an equal share of the card (`CIFAR_TF_RUNS_PER_GPU` runs share one), and with
`KERAS_BACKEND` set before Keras is imported. The variables are read when TensorFlow or JAX
starts, so they are set on the process, never from inside it.
"""
from collections import Counter

from .. import settings
from ..hardware import gpus_for_runs

MEMORY_HEADROOM = 0.9   # of a GPU's memory, shared among its runs; the rest is the driver's and XLA's


def pick_gpu(busy, gpus=None):
    """The GPU among `gpus` with the fewest runs in `busy` (GPU ids of running runs), the first of
    them on a tie; None on a machine without GPUs."""
    gpus = gpus_for_runs() if gpus is None else tuple(gpus)
    if not gpus:
        return None
    counts = Counter(busy)
    return min(gpus, key=lambda gpu: (counts[gpu], gpus.index(gpu)))


def process_env(gpu, backend, runs_per_gpu=None):
    """The environment variables of a training process placed on `gpu` (None: no GPU)."""
    # JAX_PLATFORMS: a server that keeps the GPUs free sets it to cpu for itself, not for its runs.
    env = {"KERAS_BACKEND": backend, "JAX_PLATFORMS": ""}
    if gpu is None:
        return env
    share = MEMORY_HEADROOM / (runs_per_gpu or settings.runs_per_gpu())
    return {**env, "CUDA_VISIBLE_DEVICES": str(gpu),
            "TF_FORCE_GPU_ALLOW_GROWTH": "true",              # TensorFlow: grow, do not take the card
            "XLA_PYTHON_CLIENT_PREALLOCATE": "false",         # JAX: the same...
            "XLA_PYTHON_CLIENT_MEM_FRACTION": f"{share:.3f}"}  # ...up to this run's share


def gpu_of(run):
    """The GPU a run's record says it was placed on, or None."""
    placement = run.record.get("placement")
    return placement.get("gpu") if isinstance(placement, dict) else None


def default_max_concurrent():
    """Runs that train at once here: `$CIFAR_TF_MAX_RUNS`, else CIFAR_TF_RUNS_PER_GPU per GPU, else
    one on a CPU (where runs would only share the same cores)."""
    gpus = len(gpus_for_runs())
    return settings.max_runs() or (gpus * settings.runs_per_gpu() if gpus else 1)
