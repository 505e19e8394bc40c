"""One training run, start to finish: data, model, optimizer, live metrics, stop requests, saving.

`train()` is what `python -m cifar_tf train` runs and what the app starts in a separate process.
While it trains, the run folder receives a step record every few batches and an epoch record
every epoch, so another process can draw live curves; a stop request (a STOP file in the folder,
SIGINT or SIGTERM) ends the current batch, then the run is evaluated and saved as `stopped`.
"""
import math
import os
import signal
import threading
import time
import warnings
from dataclasses import replace

import keras

from . import runs as runs_lib
from .config import TrainConfig
from .data import load_cifar10, split_train_val, stratified_subset
from .validation import InvalidArgument

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


def check_config(config):
    """Validate a TrainConfig completely, architecture hyperparameters included, without training."""
    from .architectures import ARCHITECTURES, build_model, get_architecture

    config = config.validated()
    if config.fine_tune_epochs and "freeze_base" not in get_architecture(config.arch).defaults:
        raise InvalidArgument("fine_tune_epochs", config.fine_tune_epochs,
                              "0 for an architecture without a pretrained base (fine-tuning applies to "
                              + ", ".join(name for name, a in ARCHITECTURES.items() if "freeze_base" in a.defaults) + ")")
    build_model(config.arch, **architecture_params(config))  # checks every architecture value
    if config.recipe == "airbench":
        from .airbench import check_recipe
        check_recipe(config)
    if config.early_stopping and not config.val_size:
        raise InvalidArgument("early_stopping", config.early_stopping, "0 when val_size is 0 (nothing to watch)")
    return config


def architecture_params(config):
    params = dict(config.arch_params)
    if config.dropout is not None:
        params["dropout"] = config.dropout
    if config.fine_tune_epochs:
        params["freeze_base"] = True  # the first phase trains only the new head
    return params


def train(config=None, *, runs_dir=None, data_dir=None, cache_dir=None, name=None, run=None, tags=None,
          data=None, log=print):
    """Train one run and return it (status completed, stopped or failed, with its metrics)."""
    config = check_config(config or TrainConfig())
    if run is None:
        run = runs_lib.create_run(runs_dir, arch=config.arch, config=config.to_dict(), name=name, tags=tags)
    run.start(config=config.to_dict())
    stop = StopRequest(run)
    heartbeat = Heartbeat(run)
    policy = keras.mixed_precision.global_policy()  # device.configure() sets it for the run only
    try:
        with stop, heartbeat:
            return _train(run, config, stop, data or prepare_data(config, data_dir, cache_dir), log)
    except BaseException as error:  # noqa: BLE001 - a run must never stay "running" after a crash
        message = str(error) or type(error).__name__
        if isinstance(error, KeyboardInterrupt):
            message = "interrupted"
        run.finish("failed", error=f"{type(error).__name__}: {message}")
        raise
    finally:
        keras.mixed_precision.set_global_policy(policy)


def _train(run, config, stop, data, log):
    from .architectures import build_model
    from .augment import evaluation_dataset, training_dataset
    from .device import configure
    from .optim import SharpnessAware, make_optimizer

    if config.recipe == "airbench":  # the fast preset: its own train step, see airbench.py
        from .airbench import train_airbench
        return train_airbench(run, config, stop, data, log)
    device = configure(config.mixed_precision, config.xla)
    keras.utils.set_random_seed(config.seed)
    model = build_model(config.arch, **architecture_params(config))
    x_train, y_train, x_val, y_val = data["x_train"], data["y_train"], data["x_val"], data["y_val"]
    steps_per_epoch = math.ceil(len(x_train) / config.batch_size)
    run.update(device=device, params=int(model.count_params()), data_path=data.get("path"),
               train_size=len(x_train), val_size=len(x_val), steps_per_epoch=steps_per_epoch,
               total_steps=steps_per_epoch * (config.epochs + config.fine_tune_epochs))
    log(f"run {run.id}: {config.arch}, {model.count_params():,} parameters, {len(x_train):,} training "
        f"images, {config.epochs} epochs on {device['name']} ({device['precision']}, xla {device['xla']})")

    trainer = SharpnessAware(model, rho=config.sam_rho) if config.sam_rho else model
    callbacks = [LiveMetrics(run, config, stop, log), stop.callback()]
    if config.early_stopping:
        callbacks.append(keras.callbacks.EarlyStopping(monitor="val_accuracy", mode="max",
                                                       patience=config.early_stopping,
                                                       restore_best_weights=True))
    fit = dict(x=training_dataset(x_train, y_train, batch_size=config.batch_size,
                                  augmentation=config.augment, seed=config.seed),
               validation_data=evaluation_dataset(x_val, y_val) if len(x_val) else None,
               callbacks=callbacks, verbose=0)
    warnings.filterwarnings("ignore", message=".*shuffle=True.*tf.data.Dataset")  # ours is shuffled
    started = time.time()
    _compile(trainer, make_optimizer(config, steps_per_epoch), config, device)
    history = trainer.fit(epochs=config.epochs, **fit).history
    if config.fine_tune_epochs and not stop.requested:
        # Transfer learning, second phase: unfreeze the pretrained base and go on at a lower rate.
        log(f"run {run.id}: fine-tuning the whole network for {config.fine_tune_epochs} epochs")
        model.get_layer("base").trainable = True
        fine = replace(config, lr=config.lr * config.fine_tune_lr_factor, epochs=config.fine_tune_epochs,
                       warmup_epochs=0.0)
        _compile(trainer, make_optimizer(fine, steps_per_epoch), config, device)
        done = len(history["loss"])
        more = trainer.fit(initial_epoch=done, epochs=done + config.fine_tune_epochs, **fit).history
        history = {key: history.get(key, []) + more.get(key, []) for key in set(history) | set(more)}
    train_seconds = time.time() - started
    status = "stopped" if stop.requested else "completed"
    log(f"run {run.id}: {status} after {train_seconds:.1f} s; evaluating on the test set")
    return finish_run(run, model, data["x_test"], data["y_test"], status=status, train_seconds=train_seconds,
                      history=history, images_per_second=callbacks[0].images_per_second())


def _compile(trainer, optimizer, config, device):
    trainer.compile(optimizer=optimizer,
                    loss=keras.losses.CategoricalCrossentropy(label_smoothing=config.label_smoothing),
                    metrics=["accuracy"], jit_compile=device["xla"])


def finish_run(run, model, x_test, y_test, *, status, train_seconds, history, images_per_second,
               probabilities=None, extra_metrics=None):
    """Evaluate on the test set, save the model and the scores, and close the run.

    A recipe that evaluates its own way (airbench's test-time augmentation) passes its test
    `probabilities` and any `extra_metrics` to record beside the usual ones."""
    from .evaluation import evaluate_probabilities
    from .predict import predict_proba

    if probabilities is None:
        probabilities = predict_proba(model, x_test)
    evaluation = evaluate_probabilities(probabilities, y_test)
    runs_lib.atomic_save_npy(run.file(runs_lib.PROBABILITIES_FILE), probabilities.astype("float16"))
    runs_lib.atomic_write_json(run.file(runs_lib.EVALUATION_FILE), evaluation)
    # Save an uncompiled functional copy: no optimizer or SAM wrapper, loads anywhere; in float32
    # even after mixed precision training, so it predicts fast on any CPU.
    from .device import float32_copy

    plain = float32_copy(model)
    temporary = run.file(".model-partial.keras")
    plain.save(temporary)
    os.replace(temporary, run.model_path)
    val_accuracy = [v for v in history.get("val_accuracy", []) if v is not None]
    metrics = {
        "test_accuracy": evaluation["accuracy"], "test_loss": evaluation["loss"],
        "weighted_f1": evaluation["weighted_f1"], "top3_accuracy": evaluation["top3_accuracy"],
        "best_val_accuracy": max(val_accuracy) if val_accuracy else None,
        "train_seconds": round(train_seconds, 2), "images_per_second": images_per_second,
        **(extra_metrics or {}),
    }
    run.finish(status, metrics=metrics, epochs_completed=len(history.get("loss", [])))
    (run.path / runs_lib.STOP_FILE).unlink(missing_ok=True)
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

    def callback(self):
        return StopOnRequest(self)


class StopOnRequest(keras.callbacks.Callback):
    def __init__(self, request):
        super().__init__()
        self.request = request

    def on_train_batch_end(self, batch, logs=None):
        if self.request.check():
            self.model.stop_training = True


class Heartbeat:
    """Touches the run's heartbeat file every few seconds from a daemon thread."""

    def __init__(self, run, every=HEARTBEAT_EVERY_S):
        self.run, self.every, self._done = run, every, threading.Event()

    def __enter__(self):
        self.run.beat()
        threading.Thread(target=self._loop, daemon=True, name="heartbeat").start()
        return self

    def _loop(self):
        while not self._done.wait(self.every):
            try:
                self.run.beat()
            except OSError:
                pass  # a full disk must not kill the training thread

    def __exit__(self, *exc):
        self._done.set()
        return False


class LiveMetrics(keras.callbacks.Callback):
    """Appends step and epoch records to the run folder as training goes."""

    def __init__(self, run, config, stop, log):
        super().__init__()
        self.run, self.config, self.stop, self.log = run, config, stop, log
        self.step, self.epoch_rates = 0, []

    def on_train_begin(self, logs=None):
        self.started = self.mark = time.time()
        self.mark_step = 0

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch
        self.epoch_started, self.epoch_images = time.time(), 0
        self.window_start = (0, {})  # batches seen and Keras' running means when the window began

    def on_train_batch_end(self, batch, logs=None):
        self.step += 1
        self.epoch_images += self.config.batch_size
        self.epoch_ended = time.time()
        if self.step % self.config.log_every == 0 or self.stop.check():
            now = time.time()
            rate = (self.step - self.mark_step) * self.config.batch_size / max(now - self.mark, 1e-9)
            self.mark, self.mark_step = now, self.step
            runs_lib.append_jsonl(self.run.file(runs_lib.STEPS_FILE), {
                "step": self.step, "epoch": self.epoch + 1, "batch": batch + 1,
                **_floats(logs, "loss", "accuracy"), "lr": self._lr(),
                "images_per_second": round(rate, 1), "elapsed": round(now - self.started, 3)})

    def _window_means(self, seen, logs):
        """Loss and accuracy over the batches since the last record. Keras reports means since the
        epoch began, which would make every epoch's curve restart from its first batch."""
        means = _floats(logs, "loss", "accuracy")
        before, previous = self.window_start
        self.window_start = (seen, means)
        return {key: None if value is None else
                (value * seen - (previous.get(key) or 0.0) * before) / (seen - before)
                for key, value in means.items()}

    def on_epoch_end(self, epoch, logs=None):
        seconds = max(getattr(self, "epoch_ended", time.time()) - self.epoch_started, 1e-9)
        rate = min(self.epoch_images, self.run.record.get("train_size") or self.epoch_images) / seconds
        self.epoch_rates.append(rate)
        record = {"epoch": epoch + 1, **_floats(logs, "loss", "accuracy", "val_loss", "val_accuracy"),
                  "lr": self._lr(), "seconds": round(seconds, 3), "images_per_second": round(rate, 1),
                  "elapsed": round(time.time() - self.started, 3)}
        runs_lib.append_jsonl(self.run.file(runs_lib.EPOCHS_FILE), record)
        self.run.update(epochs_completed=epoch + 1)
        self.log(f"epoch {epoch + 1}/{self.config.epochs}: "
                 + ", ".join(f"{k} {v:.4f}" for k, v in record.items()
                             if k in ("loss", "accuracy", "val_loss", "val_accuracy") and v is not None)
                 + f", {rate:,.0f} images/s")

    def images_per_second(self):
        # Steady state: the first epoch pays for tracing and warm-up, so leave it out when we can.
        rates = self.epoch_rates[1:] or self.epoch_rates
        return round(sum(rates) / len(rates), 1) if rates else None

    def _lr(self):
        from .optim import current_learning_rate
        try:
            return current_learning_rate(self.model.optimizer)
        except (AttributeError, TypeError, ValueError):
            return None



def _floats(logs, *keys):
    logs = logs or {}
    return {key: (float(logs[key]) if key in logs and logs[key] is not None else None) for key in keys}
