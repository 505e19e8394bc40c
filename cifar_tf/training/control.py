"""The worker's side of a run's knobs (runs/control.py has the files): a callback that obeys the
run's control file after every step, and one that keeps the latest epochs' weights for forks.

`RunControl` costs one `stat` per step while nobody changes anything. A new learning rate takes
effect at the next step: the rate is the optimizer's schedule times a scale variable
(optim.ScaledSchedule), set to new rate / configured rate, so a schedule keeps its shape. Under
JAX the trainer holds the variables' values between steps: they are put back first
(`jax_state_sync`), and the trainer reads them all again before its next step. Pausing waits
inside the callback, between two steps; the heartbeat thread goes on beating, and a stop request
ends the wait.
"""
import os
import time

import keras

from ..runs import control as knobs
from .optim import lr_scale_variable

PAUSE_POLL_S = 0.2
MAX_LR = 10.0   # TrainConfig's limit on lr


class RunControl(keras.callbacks.Callback):
    """Applies control.json's requests as training goes, and records each in events.jsonl."""

    def __init__(self, run, config, stop, log, *, first_step=0):
        super().__init__()
        self.run, self.stop, self.log = run, stop, log
        self.configured_lr = self.lr = float(config.lr)   # the base rate configured, and the one now
        self.step, self.epoch, self.batch = first_step, 0, 0
        self.paused = False
        self.applied = {}   # knob -> `seq` of the request last applied
        self.watcher = knobs.ControlWatcher(run.path)

    def on_train_begin(self, logs=None):
        self._set_scale()   # a second phase (fine-tuning) has a new optimizer: it gets the scale too
        self.check()        # a request written before training began

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch, self.batch = epoch, 0

    def on_train_batch_end(self, batch, logs=None):
        self.step, self.batch = self.step + 1, batch + 1
        self.check()

    def check(self):
        """Apply what the control file asks, if it changed; while paused, wait here."""
        control = self.watcher.changed()
        if control is None:
            return
        self._apply(control)
        while self.paused and not self.stop.check():
            time.sleep(PAUSE_POLL_S)
            control = self.watcher.changed()
            if control is not None:
                self._apply(control)
        if self.paused:   # a stop ended the pause: the run finishes as stopped
            self.paused = False

    def _apply(self, control):
        entry = control.get("lr")
        if self._new("lr", entry):
            self._change_lr(entry)
        entry = control.get("paused")
        if self._new("paused", entry) and bool(entry.get("value")) != self.paused:
            self.paused = bool(entry.get("value"))
            self._event("pause" if self.paused else "resume", entry)
            self.run.update(phase="paused" if self.paused else "training")
            self.log(f"{'paused' if self.paused else 'resumed'} at step {self.step} by {entry.get('by')}")

    def _new(self, knob, entry):
        if not isinstance(entry, dict) or entry.get("seq") == self.applied.get(knob, object()):
            return False
        self.applied[knob] = entry.get("seq")
        return True

    def _change_lr(self, entry):
        value = entry.get("value")
        if not isinstance(value, (int, float)) or isinstance(value, bool) or not 0 < value <= MAX_LR:
            self.log(f"ignored a learning rate of {value!r}: expected a number in (0, {MAX_LR:g}]")
            return
        if lr_scale_variable(self.model.optimizer) is None:
            self._event("refused", entry, knob="lr", to=float(value), reason="this optimizer's rate cannot change")
            return
        old, self.lr = self.lr, float(value)
        self._set_scale()
        self._event("lr", entry, **{"from": old, "to": self.lr})
        self.log(f"learning rate {old:.4g} -> {self.lr:.4g} from step {self.step + 1} on, by {entry.get('by')}")

    def _set_scale(self):
        variable = lr_scale_variable(self.model.optimizer)
        if variable is None:
            return
        sync = getattr(self.model, "jax_state_sync", None)
        if sync is not None and keras.backend.backend() == "jax":
            sync()   # the trainer's state back into the variables; it reads them again next step
        variable.assign(self.lr / self.configured_lr)

    def _event(self, what, entry, **details):
        per_epoch = self.run.record.get("steps_per_epoch")
        epoch = round(self.epoch + self.batch / per_epoch, 4) if per_epoch else float(self.epoch)
        knobs.record_event(self.run.path, {"step": self.step, "epoch": epoch, "what": what, **details,
                                           "by": entry.get("by"), "asked_at": entry.get("at")})


class EpochCheckpoints(keras.callbacks.Callback):
    """Keeps the weights of `net` at the end of each whole epoch, the latest KEEP_CHECKPOINTS of
    them: what a fork starts from. A checkpoint that cannot be written is skipped, not fatal."""

    def __init__(self, run, net, metrics, log, keep=knobs.KEEP_CHECKPOINTS):
        super().__init__()
        self.run, self.net, self.metrics, self.log, self.keep = run, net, metrics, log, keep

    def on_epoch_end(self, epoch, logs=None):
        if self.metrics.epochs_completed != epoch + 1:
            return   # an epoch a stop cut short: a fork starts at a whole epoch
        folder = self.run.path / knobs.CHECKPOINTS_DIR
        try:
            if folder.is_symlink():
                raise OSError("checkpoints is a symbolic link")
            folder.mkdir(exist_ok=True)
            partial = folder / f".partial-{os.getpid()}.weights.h5"
            self.net.save_weights(partial)
            os.replace(partial, knobs.checkpoint_path(self.run.path, epoch + 1))
            knobs.prune_checkpoints(self.run.path, self.keep)
        except OSError as error:
            self.log(f"could not keep the weights of epoch {epoch + 1} ({error}): no fork can start there")
