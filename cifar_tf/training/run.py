"""One training run, start to finish: data, model, live metrics, stop requests, evaluation, saving.

`train()` is what `python -m cifar_tf train` runs and what the app starts in a separate process.
Every run lives the same life, whatever its recipe (Keras' own fit, or airbench's train step)
and its Keras backend (TensorFlow or JAX, chosen before Keras loads): check the config, start the
run folder, load the data, build the model, fit it with the live metrics and stop callbacks,
score the test set, save. While it trains, the run folder
receives a step record every few batches and an epoch record every epoch, so another process can
draw live curves; a stop request (a STOP file in the folder, SIGINT or SIGTERM) ends the current
batch, then the run is evaluated and saved as `stopped`.
"""
import os
import signal
import threading
import time

from ..data.cifar10 import load_cifar10, split_train_val, stratified_subset
from ..runs import store
from ..runs.files import atomic_save_npy, atomic_write_json
from .config import TrainConfig, architecture_params, check_config

HEARTBEAT_EVERY_S = 5


def prepare_data(config, data_dir=None, cache_dir=None):
    """Train, validation and test arrays for a config: validation comes from the training set."""
    data = load_cifar10(data_dir=data_dir, cache_dir=cache_dir)
    x_train, y_train, x_val, y_val = split_train_val(data.x_train, data.y_train,
                                                     val_size=config.val_size, seed=config.seed)
    if config.train_limit:
        x_train, y_train = stratified_subset(x_train, y_train, config.train_limit, seed=config.seed)
    return dict(x_train=x_train, y_train=y_train, x_val=x_val, y_val=y_val,
                x_test=data.x_test, y_test=data.y_test, path=str(data.path))


def train(config=None, *, runs_dir=None, data_dir=None, cache_dir=None, name=None, run=None, tags=None,
          data=None, log=print, record=None, body=None):
    """Train one run and return it (status completed, stopped or failed, with its metrics).
    `record`: more fields for a new run's record; `body(run, config, stop, data, log)`: what the
    run does instead of training (a learning-rate range test, training/range_test.py)."""
    from .device import prepare_process

    config = (config or TrainConfig()).validated()
    prepare_process(config.backend)  # before anything is built: the backend and its GPU memory options
    config = check_config(config)
    if run is None:
        # The data first: a missing dataset or a validation split that does not fit is refused
        # before a run folder exists, so a refused run leaves nothing behind.
        data = data or prepare_data(config, data_dir, cache_dir)
        run = store.create_run(runs_dir, arch=config.arch, config=config.to_dict(), name=name, tags=tags,
                               record=record)
    import keras

    run.start(config=config.to_dict(), phase="loading data")
    stop = StopRequest(run)
    policy = keras.mixed_precision.global_policy()  # device.configure() sets it for the run only
    try:
        with stop, Heartbeat(run):
            return (body or _live)(run, config, stop, data or prepare_data(config, data_dir, cache_dir), log)
    except BaseException as error:  # noqa: BLE001 - a run must never stay "running" after a crash
        message = "interrupted" if isinstance(error, KeyboardInterrupt) else str(error) or type(error).__name__
        run.finish("failed", error=f"{type(error).__name__}: {message}")
        raise
    finally:
        keras.mixed_precision.set_global_policy(policy)


def _live(run, config, stop, data, log):
    import keras

    from ..models.registry import build_model
    from .device import configure

    def phase(text):  # what the Train page says the run is doing until its first curve points
        run.update(phase=text)

    phase("building the model")
    from . import airbench, keras_fit
    from .control import EpochCheckpoints, RunControl
    from .fork import start_of, unforkable_reason
    from .live import LiveMetrics, StopOnRequest

    recipe = {"keras": keras_fit, "airbench": airbench}[config.recipe]
    device = configure(config.mixed_precision, config.xla)
    keras.utils.set_random_seed(config.seed)
    model = build_model(config.arch, **architecture_params(config))
    train_size, val_size = len(data["x_train"]), len(data["x_val"])
    plan = recipe.plan(config, train_size)
    run.update(device=device, params=int(model.count_params()), data_path=data.get("path"),
               train_size=train_size, val_size=val_size, recipe=config.recipe, **plan)
    log(f"run {run.id}: {config.arch} ({config.recipe} recipe), {model.count_params():,} parameters, "
        f"{train_size:,} training images, {config.epochs + config.fine_tune_epochs} epochs of "
        f"{plan['steps_per_epoch']} steps on {device['name']} ({device['backend']}, {device['precision']}, "
        f"xla {device['xla']})")

    first_epoch = start_of(run, model)   # a fork starts from its parent's weights at an epoch
    metrics = LiveMetrics(run, config, stop, log)
    metrics.step, metrics.epochs_completed = first_epoch * plan["steps_per_epoch"], first_epoch
    # Knobs (lr, pause) after every step; the latest epochs' weights kept for forks where a fork can go on.
    callbacks = [metrics, RunControl(run, config, stop, log, first_step=metrics.step), StopOnRequest(stop)]
    if not unforkable_reason(config.to_dict()):
        callbacks.append(EpochCheckpoints(run, model, metrics, log))
    if config.early_stopping:
        callbacks.append(keras.callbacks.EarlyStopping(monitor="val_accuracy", mode="max",
                                                       patience=config.early_stopping,
                                                       restore_best_weights=True))
    started = time.time()
    history = recipe.fit(model, config, data, device=device, callbacks=callbacks, stop=stop, log=log, phase=phase,
                         **({"initial_epoch": first_epoch} if first_epoch else {}))
    train_seconds = time.time() - started
    status = "stopped" if stop.requested else "completed"
    log(f"run {run.id}: {status} after {train_seconds:.1f} s; evaluating on the test set")
    probabilities, extra = recipe.test_probabilities(model, data["x_test"], data["y_test"], run=run, log=log,
                                                     phase=phase)
    phase("saving the model")
    return finish_run(run, model, data["y_test"], probabilities, status=status, train_seconds=train_seconds,
                      history=history, images_per_second=metrics.images_per_second(), extra_metrics=extra,
                      epochs_completed=metrics.epochs_completed)


def finish_run(run, model, y_test, probabilities, *, status, train_seconds, history, images_per_second,
               extra_metrics=None, epochs_completed=None):
    """Save the model, then the test-set probabilities and scores, and close the run.

    The model goes first, through a temporary file that never outlives a failed save: a full disk
    leaves no half-written model and no scores that look finished (train() records the failure)."""
    from ..evaluation.metrics import evaluate_probabilities
    from .device import float32_copy

    # An uncompiled functional copy: no optimizer or SAM wrapper, loads anywhere; in float32 even
    # after mixed precision training, so it predicts fast on any CPU.
    temporary = run.file(f"{store.PARTIAL_PREFIX}{os.getpid()}.keras")
    try:
        float32_copy(model).save(temporary)
        os.replace(temporary, run.model_path)
    finally:
        temporary.unlink(missing_ok=True)
    evaluation = evaluate_probabilities(probabilities, y_test)
    atomic_save_npy(run.file(store.PROBABILITIES_FILE), probabilities.astype("float16"))
    atomic_write_json(run.file(store.EVALUATION_FILE), evaluation)
    val_accuracy = [v for v in history.get("val_accuracy", []) if v is not None]
    metrics = {
        "test_accuracy": evaluation["accuracy"], "test_loss": evaluation["loss"],
        "weighted_f1": evaluation["weighted_f1"], "top3_accuracy": evaluation["top3_accuracy"],
        "best_val_accuracy": max(val_accuracy) if val_accuracy else None,
        "train_seconds": round(train_seconds, 2), "images_per_second": images_per_second,
        **(extra_metrics or {}),
    }
    if epochs_completed is None:
        epochs_completed = len(history.get("loss", []))
    run.finish(status, metrics=metrics, epochs_completed=epochs_completed, phase=None)
    (run.path / store.STOP_FILE).unlink(missing_ok=True)
    return run


class StopRequest:
    """Set by a STOP file in the run folder, SIGINT or SIGTERM; checked after every batch."""

    def __init__(self, run):
        self.run, self.requested, self._previous = run, False, {}

    def __enter__(self):
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGINT, signal.SIGTERM):
                self._previous[sig] = signal.signal(sig, self._on_signal)
        return self

    def __exit__(self, *exc):
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)
        return False

    def _on_signal(self, signum, frame):
        self.requested = True

    def check(self):
        if not self.requested and self.run.stop_requested():
            self.requested = True
        return self.requested


class Heartbeat:
    """Touches a folder's heartbeat file every few seconds from a daemon thread."""

    def __init__(self, folder, every=HEARTBEAT_EVERY_S):
        self.folder, self.every, self._done = folder, every, threading.Event()

    def __enter__(self):
        self.folder.beat()
        threading.Thread(target=self._loop, daemon=True, name="heartbeat").start()
        return self

    def _loop(self):
        while not self._done.wait(self.every):
            try:
                self.folder.beat()
            except OSError:
                pass  # a full disk must not kill the training thread

    def __exit__(self, *exc):
        self._done.set()
        return False
