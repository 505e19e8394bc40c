"""Optimizers, learning-rate schedules, and sharpness-aware minimisation (SAM) around any of them."""
import keras
import tensorflow as tf
from keras import ops


def make_schedule(config, steps_per_epoch):
    """The learning rate as a function of the step, for a validated TrainConfig."""
    lr, total = config.lr, max(1, config.epochs * steps_per_epoch)
    decay_steps = max(1, round(config.decay_every * steps_per_epoch))
    warmup = min(total - 1, round(config.warmup_epochs * steps_per_epoch))
    if config.schedule == "constant":
        return lr
    if config.schedule in ("step", "exponential"):
        return keras.optimizers.schedules.ExponentialDecay(
            lr, decay_steps=decay_steps, decay_rate=config.decay_factor,
            staircase=config.schedule == "step")
    if config.schedule == "cosine":
        if warmup:
            return keras.optimizers.schedules.CosineDecay(
                lr * WARMUP_START, decay_steps=total - warmup, warmup_target=lr, warmup_steps=warmup)
        return keras.optimizers.schedules.CosineDecay(lr, decay_steps=total)
    if config.schedule == "onecycle":
        return LinearWarmupDecay(lr, total_steps=total, warmup_steps=warmup)
    raise ValueError(f"unknown schedule {config.schedule!r}")


WARMUP_START = 0.1  # warm-ups start at a tenth of the peak rate


class LinearWarmupDecay(keras.optimizers.schedules.LearningRateSchedule):
    """One-cycle: a straight line up to `peak` over `warmup_steps`, then straight down to `end`."""

    def __init__(self, peak, total_steps, warmup_steps, start=WARMUP_START, end=0.0):
        self.peak, self.total_steps, self.warmup_steps = float(peak), int(total_steps), int(warmup_steps)
        self.start, self.end = float(start), float(end)

    def __call__(self, step):
        step = ops.cast(step, "float32")
        warmup = max(1.0, float(self.warmup_steps))
        rising = self.start + (1.0 - self.start) * step / warmup
        falling_steps = max(1.0, float(self.total_steps - self.warmup_steps))
        falling = 1.0 - (1.0 - self.end) * (step - self.warmup_steps) / falling_steps
        factor = ops.where(step < self.warmup_steps, rising, ops.maximum(falling, self.end))
        return self.peak * factor

    def get_config(self):
        return dict(peak=self.peak, total_steps=self.total_steps, warmup_steps=self.warmup_steps,
                    start=self.start, end=self.end)


def make_optimizer(config, steps_per_epoch):
    learning_rate = make_schedule(config, steps_per_epoch)
    weight_decay = config.weight_decay or None
    if config.optimizer == "sgd":
        return keras.optimizers.SGD(learning_rate, momentum=config.momentum, nesterov=config.nesterov,
                                    weight_decay=weight_decay)
    if config.optimizer == "adam":
        return keras.optimizers.Adam(learning_rate, weight_decay=weight_decay)
    if config.optimizer == "adamw":
        return keras.optimizers.AdamW(learning_rate, weight_decay=config.weight_decay)
    if config.optimizer == "rmsprop":
        return keras.optimizers.RMSprop(learning_rate, momentum=config.momentum, weight_decay=weight_decay)
    raise ValueError(f"unknown optimizer {config.optimizer!r}")


def current_learning_rate(optimizer):
    """The rate the optimizer will use at its next step, as a float."""
    return float(ops.convert_to_numpy(optimizer.learning_rate))


class SharpnessAware(keras.Model):
    """Trains `model` with SAM (Foret et al. 2020, arXiv 2010.01412): two passes per step.

    The first pass finds the gradient g; the weights step to w + rho * g / |g|, the worst point
    nearby to first order; the gradient there is what the wrapped optimizer applies, at w.
    Only the wrapped functional model is saved, so a SAM run's model.keras is a plain model.
    """

    def __init__(self, model, rho=0.05, **kwargs):
        super().__init__(**kwargs)
        self.model_to_train = model
        self.rho = float(rho)

    def call(self, inputs, training=False):
        return self.model_to_train(inputs, training=training)

    def train_step(self, data):
        x, y, sample_weight = keras.utils.unpack_x_y_sample_weight(data)
        weights = self.trainable_weights

        # Same bookkeeping as Keras' own TensorFlow train_step (loss tracker, loss scaling).
        with tf.GradientTape() as tape:
            y_pred = self(x, training=True)
            loss = self._compute_loss(x=x, y=y, y_pred=y_pred, sample_weight=sample_weight, training=True)
            self._loss_tracker.update_state(loss, sample_weight=tf.shape(x)[0])
            scaled = self.optimizer.scale_loss(loss)
        gradients = tape.gradient(scaled, weights)

        norm = tf.linalg.global_norm([g for g in gradients if g is not None])
        scale = self.rho / (norm + 1e-12)
        steps = [None if g is None else tf.cast(g * scale, w.dtype) for g, w in zip(gradients, weights)]
        for weight, step in zip(weights, steps):
            if step is not None:
                weight.assign_add(step)

        with tf.GradientTape() as tape:
            perturbed_pred = self(x, training=True)
            perturbed_loss = self._compute_loss(x=x, y=y, y_pred=perturbed_pred,
                                                sample_weight=sample_weight, training=True)
            scaled = self.optimizer.scale_loss(perturbed_loss)
        gradients = tape.gradient(scaled, weights)

        for weight, step in zip(weights, steps):
            if step is not None:
                weight.assign_sub(step)
        self.optimizer.apply_gradients(zip(gradients, weights))
        return self.compute_metrics(x, y, y_pred, sample_weight=sample_weight)
