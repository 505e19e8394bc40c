"""Keras callbacks of a run: live step and epoch records in its folder, and stop requests."""
import time

import keras

from ..runs import store
from ..runs.files import append_jsonl


class LiveMetrics(keras.callbacks.Callback):
    """Appends step and epoch records to the run folder as training goes.

    A step record holds the loss and accuracy over the batches since the previous record. Keras
    reports means since the epoch began, which would make every epoch's curve restart from its
    first, noisiest batch; the window means are recovered from them.
    """

    def __init__(self, run, config, stop, log):
        super().__init__()
        self.run, self.config, self.stop, self.log = run, config, stop, log
        self.step, self.epoch_rates, self.epochs_completed = 0, [], 0

    def on_train_begin(self, logs=None):
        self.started = self.mark = time.time()
        self.mark_step = self.step   # a second phase, or a fork, goes on counting

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch
        self.epoch_started, self.epoch_images, self.epoch_batches = time.time(), 0, 0
        self.window_start = (0, {})  # batches seen and Keras' running means when the window began

    def on_train_batch_end(self, batch, logs=None):
        self.step += 1
        if self.step == 1:
            self.run.update(phase="training")
        self.epoch_batches = batch + 1
        self.epoch_images += self.config.batch_size
        self.epoch_ended = time.time()
        # Every log_every batches of the epoch, and at its last batch: each record then covers whole
        # windows of this epoch (a window across two epochs would mix two models). The very first
        # batch too, so that the curve starts the moment training does.
        last = batch + 1 == self.run.record.get("steps_per_epoch")
        if (batch + 1) % self.config.log_every == 0 or last or self.step == 1 or self.stop.check():
            now = time.time()
            rate = (self.step - self.mark_step) * self.config.batch_size / max(now - self.mark, 1e-9)
            self.mark, self.mark_step = now, self.step
            append_jsonl(self.run.file(store.STEPS_FILE), {
                "step": self.step, "epoch": self.epoch + 1, "batch": batch + 1,
                **self.window_means(batch + 1, logs), "lr": self._lr(),
                "images_per_second": round(rate, 1), "elapsed": round(now - self.started, 3)})

    def window_means(self, seen, logs):
        """Loss and accuracy over batches (previous record, `seen`] of this epoch, from Keras'
        running means over batches [1, seen]."""
        means = _floats(logs, "loss", "accuracy")
        before, previous = self.window_start
        self.window_start = (seen, means)
        window = {}
        for key, mean in means.items():
            earlier = previous.get(key, 0.0 if before == 0 else None)
            known = mean is not None and earlier is not None and seen > before
            window[key] = (mean * seen - earlier * before) / (seen - before) if known else None
        return window

    def on_epoch_end(self, epoch, logs=None):
        seconds = max(getattr(self, "epoch_ended", time.time()) - self.epoch_started, 1e-9)
        rate = min(self.epoch_images, self.run.record.get("train_size") or self.epoch_images) / seconds
        self.epoch_rates.append(rate)
        # A stop in the middle of an epoch ends it early: its record sits where training stopped
        # (epoch 1.48 after 76 of 157 batches), and it does not count as a finished epoch.
        steps = self.run.record.get("steps_per_epoch") or self.epoch_batches
        partial = 0 < self.epoch_batches < steps
        record = {"epoch": round(epoch + self.epoch_batches / steps, 3) if partial else epoch + 1,
                  **_floats(logs, "loss", "accuracy", "val_loss", "val_accuracy"),
                  "lr": self._lr(), "seconds": round(seconds, 3), "images_per_second": round(rate, 1),
                  "elapsed": round(time.time() - self.started, 3), **({"partial": True} if partial else {})}
        append_jsonl(self.run.file(store.EPOCHS_FILE), record)
        if not partial:
            self.epochs_completed = epoch + 1
            self.run.update(epochs_completed=self.epochs_completed)
        self.log(f"epoch {record['epoch']}/{self.config.epochs}: "
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


class StopOnRequest(keras.callbacks.Callback):
    """Ends training after the current batch once the run's StopRequest is set."""

    def __init__(self, request):
        super().__init__()
        self.request = request

    def on_train_batch_end(self, batch, logs=None):
        if self.request.check():
            self.model.stop_training = True


def _floats(logs, *keys):
    logs = logs or {}
    return {key: (float(logs[key]) if key in logs and logs[key] is not None else None) for key in keys}
