"""Optimizers, learning-rate schedules, and sharpness-aware minimisation (SAM) around any of them.

Everything here runs on any Keras backend; TensorFlow is imported only by SAM's TensorFlow step.
"""
import weakref

import keras
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
    if config.schedule == "drop":
        # Once, as report 001's LearningRateScheduler: the step that starts epoch `decay_every`
        # (counted from 0) is the first at the lower rate, as with a staircase decay.
        return keras.optimizers.schedules.PiecewiseConstantDecay(
            [decay_steps - 1], [lr, lr * config.decay_factor])
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


def make_optimizer(config, steps_per_epoch, learning_rate=None):
    """The config's optimizer with its schedule (or `learning_rate`, a rate or a schedule, instead),
    made `adjustable`: its rate can be scaled while it trains."""
    learning_rate = make_schedule(config, steps_per_epoch) if learning_rate is None else learning_rate
    weight_decay = config.weight_decay or None
    if config.optimizer == "sgd":
        return adjustable(keras.optimizers.SGD, learning_rate, momentum=config.momentum, nesterov=config.nesterov,
                          weight_decay=weight_decay)
    if config.optimizer == "adam":
        return adjustable(keras.optimizers.Adam, learning_rate, weight_decay=weight_decay)
    if config.optimizer == "adamw":
        return adjustable(keras.optimizers.AdamW, learning_rate, weight_decay=config.weight_decay)
    if config.optimizer == "rmsprop":
        return adjustable(keras.optimizers.RMSprop, learning_rate, momentum=config.momentum, weight_decay=weight_decay)
    raise ValueError(f"unknown optimizer {config.optimizer!r}")


class ScaledSchedule(keras.optimizers.schedules.LearningRateSchedule):
    """A schedule (or a constant rate) times `scale`, a variable of the optimizer that is 1 until
    someone changes the rate of the run while it trains (training/control.py): the schedule keeps
    its shape, scaled. Being the optimizer's own variable, every backend's compiled step reads it
    afresh (JAX's too, which takes the optimizer's variables as its state)."""

    def __init__(self, base, scale=None):
        self.base, self.scale = base, scale

    def __call__(self, step):
        base = self.base(step) if callable(self.base) else self.base
        base = ops.cast(base, "float32")
        return base if self.scale is None else base * ops.cast(self.scale.value, "float32")

    def get_config(self):
        base = self.base
        if isinstance(base, keras.optimizers.schedules.LearningRateSchedule):
            base = keras.optimizers.schedules.serialize(base)
        return {"base": base}


_SCALES = weakref.WeakKeyDictionary()   # optimizer -> the variable that scales its rate


def adjustable(optimizer_class, learning_rate, **kwargs):
    """`optimizer_class(learning_rate, **kwargs)` whose rate `set_lr_scale` can scale."""
    schedule = ScaledSchedule(learning_rate)
    optimizer = optimizer_class(schedule, **kwargs)
    schedule.scale = optimizer.add_variable((), initializer="ones", dtype="float32", name="lr_scale")
    _SCALES[optimizer] = schedule.scale
    return optimizer


def lr_scale_variable(optimizer):
    """The variable scaling `optimizer`'s rate (inside a loss-scale wrapper too), or None."""
    for candidate in (optimizer, getattr(optimizer, "inner_optimizer", None)):
        if candidate is not None and candidate in _SCALES:
            return _SCALES[candidate]
    return None


def current_learning_rate(optimizer):
    """The rate the optimizer will use at its next step, as a float."""
    return float(ops.convert_to_numpy(optimizer.learning_rate))


class SharpnessAware(keras.Model):
    """Trains `model` with SAM (Foret et al. 2020, arXiv 2010.01412): two passes per step.

    The first pass finds the gradient g; the weights step to w + rho * g / |g|, the worst point
    nearby to first order; the gradient there is what the wrapped optimizer applies, at w.
    Only the wrapped functional model is saved, so a SAM run's model.keras is a plain model.

    The two passes are written once (`perturbation`, `gradients_to_apply`); each backend has its
    own small train step around them, as keras.io's "Customizing what happens in fit()" guides
    do: TensorFlow's records tapes and assigns, JAX's is a pure function of the state.
    With loss scaling (float16), a first pass that overflows moves nothing: the perturbation is
    skipped and the optimizer gets that pass's non-finite gradients, so a LossScaleOptimizer
    skips the step and lowers its scale, as it does without SAM.
    """

    def __init__(self, model, rho=0.05, **kwargs):
        super().__init__(**kwargs)
        self.model_to_train = model
        self.rho = float(rho)

    def call(self, inputs, training=False):
        return self.model_to_train(inputs, training=training)

    # --- the shared logic ------------------------------------------------------------------------

    def perturbation(self, gradients, weights):
        """(steps, finite): rho * g / |g| for each weight (None where g is), all zero unless every
        gradient is finite; `finite`, a 0-d bool. Scale-free, so scaled gradients do as well."""
        present = [g for g in gradients if g is not None]
        finite = ops.all(ops.stack([ops.all(ops.isfinite(g)) for g in present]))
        norm = ops.sqrt(sum(ops.sum(ops.square(ops.cast(g, "float32"))) for g in present))
        scale = self.rho / (norm + 1e-12)
        # where(), not a product with 0: an infinite gradient times 0 is NaN.
        return [None if g is None else ops.cast(ops.where(finite, g * ops.cast(scale, g.dtype), 0), w.dtype)
                for g, w in zip(gradients, weights)], finite

    @staticmethod
    def gradients_to_apply(finite, perturbed_gradients, first_gradients):
        """The perturbed pass's gradients, or the first pass's when those were not finite."""
        return [None if p is None else ops.where(finite, p, g)
                for p, g in zip(perturbed_gradients, first_gradients)]

    # --- one train step per backend --------------------------------------------------------------

    def train_step(self, *args):
        backend = keras.backend.backend()
        if backend == "jax":
            return self._jax_train_step(*args)
        if backend == "tensorflow":
            return self._tensorflow_train_step(*args)
        raise NotImplementedError(f"SAM has no train step for the {backend!r} backend (tensorflow or jax)")

    def _tensorflow_train_step(self, data):
        import tensorflow as tf

        x, y, sample_weight = keras.utils.unpack_x_y_sample_weight(data)
        weights = self.trainable_weights

        def scaled_loss_gradients(record_loss):
            # Same bookkeeping as Keras' own TensorFlow train_step (loss tracker, loss scaling).
            with tf.GradientTape() as tape:
                y_pred = self(x, training=True)
                loss = self._compute_loss(x=x, y=y, y_pred=y_pred, sample_weight=sample_weight, training=True)
                if record_loss:
                    self._loss_tracker.update_state(loss, sample_weight=tf.shape(x)[0])
                scaled = self.optimizer.scale_loss(loss)
            return tape.gradient(scaled, weights), y_pred

        first, y_pred = scaled_loss_gradients(record_loss=True)
        steps, finite = self.perturbation(first, weights)
        saved = [tf.identity(w.value) for w in weights]  # put back exactly, not w + s - s
        for weight, step in zip(weights, steps):
            if step is not None:
                weight.assign_add(step)
        perturbed, _ = scaled_loss_gradients(record_loss=False)
        for weight, value in zip(weights, saved):
            weight.assign(value)
        self.optimizer.apply_gradients(zip(self.gradients_to_apply(finite, perturbed, first), weights))
        return self.compute_metrics(x, y, y_pred, sample_weight=sample_weight)

    def _jax_train_step(self, state, data):
        import jax

        trainable, non_trainable, optimizer_variables, metrics_variables = state
        x, y, sample_weight = keras.utils.unpack_x_y_sample_weight(data)
        # Keras' own JAX step's pieces: the forward pass, loss and loss scaling of
        # compute_loss_and_updates, then the loss tracker and metrics of _update_metrics_variables.
        value_and_grad = jax.value_and_grad(self.compute_loss_and_updates, has_aux=True)

        def scaled_loss_gradients(weights, non_trainable, metrics_variables):
            (_, aux), gradients = value_and_grad(weights, non_trainable, metrics_variables, x, y, sample_weight,
                                                 training=True, optimizer_variables=optimizer_variables)
            return gradients, aux

        first, (loss, y_pred, non_trainable, metrics_variables) = scaled_loss_gradients(
            trainable, non_trainable, metrics_variables)
        steps, finite = self.perturbation(first, trainable)
        perturbed_weights = [w if s is None else w + s for w, s in zip(trainable, steps)]
        # As under TensorFlow, the second pass updates the layers' state too (BatchNorm statistics).
        perturbed, (_, _, non_trainable, metrics_variables) = scaled_loss_gradients(
            perturbed_weights, non_trainable, metrics_variables)
        trainable, optimizer_variables = self.optimizer.stateless_apply(
            optimizer_variables, self.gradients_to_apply(finite, perturbed, first), trainable)
        logs, metrics_variables = self._update_metrics_variables(metrics_variables, loss, x, y, y_pred,
                                                                 sample_weight)
        return logs, (trainable, non_trainable, optimizer_variables, metrics_variables)
