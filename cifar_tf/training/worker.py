"""The training process the run manager starts: `python -m cifar_tf worker RUN_FOLDER`."""
import os
import sys
from pathlib import Path

from ..data.cifar10 import load_cifar10
from ..runs import store
from ..runs.liveness import WORKER_LOG, executor_kind
from .config import TrainConfig
from .device import prepare_process
from .lrfind import KIND, RangeTest
from .run import train


# Below the app server: a class's pages stay quick while runs train on the same cores; a run
# alone on the machine loses nothing, since nice only orders who waits when both want the CPU.
WORKER_NICENESS = 10
WARM_UP_IMAGES = 128            # a standby worker's untimed first trace (warm_up): two batches
WARM_UP_WIDTHS = (8, 8, 8)      # of a fast_cnn this narrow cost little more than waiting


def run_worker(run_path):
    """Train the queued run in `run_path` with the config stored in it; the exit status."""
    lower_priority()
    run = store.read_run(run_path)
    tags = run.record.get("tags") or {}
    try:
        config = TrainConfig.from_dict(run.record["config"]).validated()
        prepare_process(config.backend)  # before the check builds a model: backend and GPU memory
        config = config.checked()
        test = RangeTest.from_dict(run.record.get("lrfind")) if run.record.get("kind") == KIND else None
    except (TypeError, ValueError, RuntimeError) as error:  # RuntimeError: pretrained weights unavailable
        run.finish("failed", error=f"invalid configuration: {error}")
        start_next(run)
        return 1
    try:
        if test is not None:   # a learning-rate range test, queued as a run
            from .range_test import range_test

            range_test(config, test, run=run, data_dir=tags.get("data_dir"))
        else:
            train(config, run=run, data_dir=tags.get("data_dir"))
    finally:
        start_next(run)
    return 0


def lower_priority():
    """Nice WORKER_NICENESS, once: a standby worker is already there when it is handed a run."""
    os.nice(max(0, WORKER_NICENESS - os.nice(0)))


def wait_as_standby(data_dir=None):
    """A standby worker: Keras and its backend imported and the app's dataset read,
    wait for a run folder on stdin; its path, with this process's output now going to its log, or
    None at end of input (the app that kept this worker is gone)."""
    lower_priority()
    try:
        load_cifar10(data_dir)  # kept: a run on the same files reads them from memory
    except Exception:  # noqa: BLE001 - no dataset yet: the run will say so itself
        pass
    import keras  # noqa: F401 - the backend's start (KERAS_BACKEND, set by the executor), paid now
    from . import airbench, keras_fit, live  # noqa: F401
    from ..evaluation import metrics  # noqa: F401 - scikit-learn's import, also paid before the run comes
    from ..models import registry  # noqa: F401
    from . import device  # noqa: F401
    warm_up()

    line = sys.stdin.readline().strip()
    if not line:
        return None
    with open(Path(line) / WORKER_LOG, "ab") as log:
        os.dup2(log.fileno(), sys.stdout.fileno())
        os.dup2(log.fileno(), sys.stderr.fileno())
    return line


def warm_up(images=WARM_UP_IMAGES):
    """Train a tiny fast preset on a few random images, unrecorded: a process's first trace of a
    training step pays once for what every trace needs (Keras' fit, the backend's function
    tracing), so the run handed to this worker gets its first curve points sooner (1 to 1.5 s on
    2 cores, measured). Keras' policy and names are left as they were; a failure here is the run's
    to meet, not the standby's."""
    import keras
    import numpy as np

    from ..models.registry import build_model
    from . import airbench
    from .config import architecture_params
    from .device import configure
    from .presets import preset_with

    policy = keras.mixed_precision.global_policy()
    config = preset_with("fast", epochs=1, batch_size=images // 2, warmup_epochs=0.5,
                         arch_params={"widths": WARM_UP_WIDTHS})
    data = np.random.default_rng(0).integers(0, 256, (images, 32, 32, 3), dtype=np.uint8)
    try:
        model = build_model(config.arch, **architecture_params(config))
        airbench.fit(model, config, {"x_train": data, "y_train": np.arange(images) % 10},
                     device=configure(config.mixed_precision, config.xla))
    except Exception:  # noqa: BLE001
        pass
    finally:
        keras.mixed_precision.set_global_policy(policy)
        keras.backend.clear_session()   # the run's layers get the names a fresh process gives them


def start_next(run):
    """Hand the freed slot to the next queued run: the queue goes on without a server, and a
    queue a stopped server left behind is not stuck until somebody opens a page."""
    from ..runs.manager import RunManager

    if executor_kind(run) == "ray":  # Ray hands a cluster's places on; a node folder is no queue
        return
    try:
        RunManager(run.path.parent).poll()
    except Exception:  # noqa: BLE001 - the next run's trouble is not this run's failure
        pass
