"""Running a learning-rate range test (see `lrfind` for what it is and how it reads): a fresh
network trained by Keras' fit while an exponential schedule raises its rate, a callback recording
every step and ending the fit when the loss diverges.

`range_test()` runs one in this process (the command line); a worker runs a queued one the same
way. It lives the life of any run (`run.train` with this body): its folder, heartbeat, stop
requests and a `failed` record if it crashes.
"""
import math
import time

import keras
from keras import ops

from ..runs.files import append_jsonl
from .config import TrainConfig, architecture_params
from .lrfind import KIND, POINTS_FILE, RangeTest, check_range_config, default_name, suggest


def range_test(config=None, test=None, *, runs_dir=None, data_dir=None, cache_dir=None, name=None, run=None,
               tags=None, data=None, log=print):
    """Run a range test and return its run, completed with its suggestions (or failed, saying why)."""
    from .run import train

    config = check_range_config(config or TrainConfig())
    test = (test or RangeTest()).validated()
    return train(config, runs_dir=runs_dir, data_dir=data_dir, cache_dir=cache_dir, name=name or default_name(config),
                 run=run, tags=tags, data=data, log=log, record={"kind": KIND, "lrfind": test.to_dict()},
                 body=lambda run, config, stop, data, log: sweep(run, config, test, stop, data, log))


def sweep(run, config, test, stop, data, log):
    from ..data.device_batches import DeviceBatches, augmentation_transform
    from ..models.registry import build_model
    from .device import configure
    from .optim import SharpnessAware, make_optimizer

    run.update(phase="building the model")
    device = configure(config.mixed_precision, config.xla)
    keras.utils.set_random_seed(config.seed)
    model = build_model(config.arch, **architecture_params(config))
    x, y = data["x_train"], data["y_train"]
    batches = DeviceBatches(x, y, batch_size=min(config.batch_size, len(x)), seed=config.seed,
                            transform=augmentation_transform(config.augment))
    run.update(device=device, params=int(model.count_params()), train_size=len(x), val_size=len(data["x_val"]),
               recipe=config.recipe, steps_per_epoch=test.steps, total_steps=test.steps)
    log(f"run {run.id}: learning-rate range test of {config.arch} ({config.optimizer}), {test.start_lr:g} to "
        f"{test.end_lr:g} over {test.steps} steps of {batches.batch_size} images")
    trainer = SharpnessAware(model, rho=config.sam_rho) if config.sam_rho else model
    trainer.compile(optimizer=make_optimizer(config, len(batches), learning_rate=ExponentialRange(test)),
                    loss=keras.losses.CategoricalCrossentropy(label_smoothing=config.label_smoothing),
                    jit_compile=device["xla"])
    run.update(phase="tracing the training step")
    recorder = RangeRecorder(run, test, stop)
    started = time.time()
    trainer.fit(batches.iterate(0, math.ceil(test.steps / len(batches))), steps_per_epoch=test.steps, epochs=1,
                callbacks=[recorder], shuffle=False, verbose=0)   # the batches come shuffled
    found = suggest(recorder.points)
    ending = recorder.ending or f"all {test.steps} steps"
    summary = {**test.to_dict(), **found, "points": len(recorder.points), "ended": ending}
    if found["suggested"] is None:
        run.finish("failed", error=f"too few finite losses ({len(recorder.points)} steps, ended: {ending}) to "
                                   "suggest a rate: start lower or take more steps", lrfind=summary, phase=None)
        return run
    log(f"run {run.id}: suggested learning rate {found['suggested']:.3g} ({found['rule']}); ended: {ending}")
    metrics = {"suggested_lr": found["suggested"], "valley_lr": found["valley"], "steepest_lr": found["steepest"],
               "train_seconds": round(time.time() - started, 2)}
    run.finish("stopped" if stop.requested else "completed", metrics=metrics, lrfind=summary, phase=None)
    return run


class ExponentialRange(keras.optimizers.schedules.LearningRateSchedule):
    """start_lr x (end_lr / start_lr) ^ (step / (steps - 1)): start_lr at step 0, end_lr at the last."""

    def __init__(self, test):
        self.test = test

    def __call__(self, step):
        fraction = ops.cast(step, "float32") / max(1, self.test.steps - 1)
        return self.test.start_lr * ops.power(self.test.end_lr / self.test.start_lr, fraction)

    def get_config(self):
        return self.test.to_dict()


class RangeRecorder(keras.callbacks.Callback):
    """Records each step's rate, loss and smoothed loss in the run folder; ends the fit once the
    smoothed loss diverges (or is not finite), a stop is requested, or the steps are done."""

    def __init__(self, run, test, stop):
        super().__init__()
        self.run, self.test, self.stop = run, test, stop
        self.points, self.ending = [], None
        self._mean_before, self._average, self._best = 0.0, 0.0, math.inf

    def on_train_batch_end(self, batch, logs=None):
        test, seen = self.test, batch + 1
        mean = float((logs or {}).get("loss", math.nan))
        # Keras reports the mean since the epoch began: this step's own loss from it.
        loss = mean * seen - self._mean_before * (seen - 1)
        self._mean_before = mean
        point = {"step": seen, "lr": test.lr_at(batch), "loss": None, "smoothed": None}
        if math.isfinite(loss):
            self._average = test.smoothing * self._average + (1 - test.smoothing) * loss
            point.update(loss=loss, smoothed=self._average / (1 - test.smoothing ** seen))
            self._best = min(self._best, point["smoothed"])
        append_jsonl(self.run.path / POINTS_FILE, point)
        self.points.append(point)
        if seen == 1:
            self.run.update(phase="sweeping the learning rate")
        if point["smoothed"] is None:
            self.ending = f"the loss was not finite at step {seen} (learning rate {point['lr']:.3g})"
        elif point["smoothed"] > test.divergence * self._best:
            self.ending = (f"diverged at step {seen} (learning rate {point['lr']:.3g}): the smoothed loss passed "
                           f"{test.divergence:g}x its best")
        elif self.stop.check():
            self.ending = f"stopped at step {seen}"
        if self.ending or seen >= test.steps:
            self.model.stop_training = True
